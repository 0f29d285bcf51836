module example.com/pubsub-chat/tutorialcheck

go 1.24
