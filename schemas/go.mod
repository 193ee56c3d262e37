module github.com/picket-dev/picket/schemas

go 1.26

require google.golang.org/protobuf v1.36.12
