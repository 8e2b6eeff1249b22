// Package onnxconformance holds the test that runs the ONNX backend node
// tests (Debian's libonnx-testdata) through the ONNX importer and the root
// package on a Vulkan device. It has no code outside its test, which opens
// one device and runs the cases one after another.
package onnxconformance
