// Command validate checks Kubernetes manifests against their schemas, offline:
// the built-in kinds against Kubernetes' OpenAPI v3 documents (the
// api/openapi-spec/v3 directory of the Go module k8s.io/kubernetes), KServe's
// kinds against the openAPIV3Schema of KServe's CRDs (schemas/*.yaml.gz,
// copied unchanged from github.com/kserve/kserve config/crd/full). Like
// kubeconform -strict, an object schema with properties rejects fields it
// does not list (unless it preserves unknown fields).
//
//	go run . -k8s $(go env GOMODCACHE)/k8s.io/kubernetes@v1.34.0/api/openapi-spec/v3 FILE.yaml...
//
// Exit status 1 when a document does not validate.
package main

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

//go:embed schemas/*.yaml.gz
var crds embed.FS

// builtins maps apiVersion/kind to the OpenAPI v3 document and schema name.
var builtins = map[string][2]string{
	"apps/v1/Deployment":                     {"apis__apps__v1_openapi.json", "io.k8s.api.apps.v1.Deployment"},
	"v1/Service":                             {"api__v1_openapi.json", "io.k8s.api.core.v1.Service"},
	"v1/ConfigMap":                           {"api__v1_openapi.json", "io.k8s.api.core.v1.ConfigMap"},
	"v1/PersistentVolumeClaim":               {"api__v1_openapi.json", "io.k8s.api.core.v1.PersistentVolumeClaim"},
	"autoscaling/v2/HorizontalPodAutoscaler": {"apis__autoscaling__v2_openapi.json", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"},
}

func main() {
	k8s := flag.String("k8s", "", "Kubernetes' api/openapi-spec/v3 `directory` (from the Go module k8s.io/kubernetes)")
	flag.Parse()
	if *k8s == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: validate -k8s DIR FILE.yaml...")
		os.Exit(2)
	}
	v, err := newValidator(*k8s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
	bad := 0
	for _, f := range flag.Args() {
		n, err := v.file(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: INVALID: %v\n", f, err)
			bad++
			continue
		}
		fmt.Printf("%s: %d document(s) valid\n", f, n)
	}
	if bad > 0 {
		os.Exit(1)
	}
}

type validator struct {
	k8sDir  string
	c       *jsonschema.Compiler
	loaded  map[string]bool
	schemas map[string]*jsonschema.Schema
}

func newValidator(dir string) (*validator, error) {
	v := &validator{k8sDir: dir, c: jsonschema.NewCompiler(), loaded: map[string]bool{}, schemas: map[string]*jsonschema.Schema{}}
	ents, err := crds.ReadDir("schemas")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if err := v.addCRD("schemas/" + e.Name()); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	return v, nil
}

// strict makes every object schema with properties reject unlisted fields,
// as kubeconform -strict does, except where unknown fields are preserved.
func strict(s any) {
	switch s := s.(type) {
	case map[string]any:
		_, hasProps := s["properties"]
		_, hasAP := s["additionalProperties"]
		if hasProps && !hasAP && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
		for _, x := range s {
			strict(x)
		}
	case []any:
		for _, x := range s {
			strict(x)
		}
	}
}

// toJSON turns YAML-decoded values into JSON-compatible ones.
func toJSON(in any) (any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func (v *validator) addCRD(name string) error {
	f, err := crds.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	var crd struct {
		Spec struct {
			Group string `yaml:"group"`
			Names struct {
				Kind string `yaml:"kind"`
			} `yaml:"names"`
			Versions []struct {
				Name   string `yaml:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				} `yaml:"schema"`
			} `yaml:"versions"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(zr).Decode(&crd); err != nil {
		return err
	}
	for _, ver := range crd.Spec.Versions {
		strict(ver.Schema.OpenAPIV3Schema)
		doc, err := toJSON(ver.Schema.OpenAPIV3Schema)
		if err != nil {
			return err
		}
		key := crd.Spec.Group + "/" + ver.Name + "/" + crd.Spec.Names.Kind
		url := "mem://crd/" + strings.ReplaceAll(key, "/", "_") + ".json"
		if err := v.c.AddResource(url, doc); err != nil {
			return err
		}
		s, err := v.c.Compile(url)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		v.schemas[key] = s
	}
	return nil
}

func (v *validator) schema(key string) (*jsonschema.Schema, error) {
	if s, ok := v.schemas[key]; ok {
		return s, nil
	}
	b, ok := builtins[key]
	if !ok {
		return nil, fmt.Errorf("no schema for %s (known: the built-in kinds listed in deploy/validate/main.go and KServe's ClusterServingRuntime, InferenceService)", key)
	}
	path := filepath.Join(v.k8sDir, b[0])
	if !v.loaded[path] {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		strict(doc)
		doc, err = toJSON(doc)
		if err != nil {
			return nil, err
		}
		if err := v.c.AddResource("file://"+path, doc); err != nil {
			return nil, err
		}
		v.loaded[path] = true
	}
	s, err := v.c.Compile("file://" + path + "#/components/schemas/" + b[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	v.schemas[key] = s
	return s, nil
}

// file validates every YAML document of a file.
func (v *validator) file(name string) (int, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		if doc == nil {
			continue
		}
		n++
		api, _ := doc["apiVersion"].(string)
		kind, _ := doc["kind"].(string)
		s, err := v.schema(api + "/" + kind)
		if err != nil {
			return n, fmt.Errorf("document %d: %w", n, err)
		}
		inst, err := toJSON(doc)
		if err != nil {
			return n, err
		}
		if err := s.Validate(inst); err != nil {
			return n, fmt.Errorf("document %d (%s %s): %w", n, api, kind, err)
		}
	}
	if n == 0 {
		return 0, errors.New("no YAML documents")
	}
	return n, nil
}
