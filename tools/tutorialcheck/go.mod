module example.com/pubsub-chat/tools/tutorialcheck

go 1.24
