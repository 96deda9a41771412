module github.com/ustack-go/ustack

go 1.26
