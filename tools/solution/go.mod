module example.com/pubsub-chat/tools/solution

go 1.24
