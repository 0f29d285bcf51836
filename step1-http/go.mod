module example.com/pubsub-chat/step1-http

go 1.24
