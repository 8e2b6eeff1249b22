package vkinfer_test

import (
	"context"
	"fmt"
	"image"
	_ "image/png" // the application chooses the image formats it decodes
	"log"
	"os"

	"github.com/vkinfer/vkinfer"
)

// Example classifies a digit with the shipped MNIST model on the best
// Vulkan device (a GPU, or a CPU driver such as lavapipe).
func Example() {
	dev, err := vkinfer.Open(vkinfer.Options{})
	if err != nil {
		log.Fatal(err) // errors.Is(err, engine.ErrNoVulkan): install a Vulkan driver
	}
	defer dev.Close()

	m, err := dev.Load("examples/mnist/mlp.bin")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	f, err := os.Open("examples/images/digit-7-t10k-0000.png")
	if err != nil {
		log.Fatal(err)
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	top, err := m.Classify(context.Background(), []image.Image{img}, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(top[0][0].Label)
}
