// kube-strict reads Kubernetes manifests (YAML documents on stdin) and decodes each one of a kind
// client-go knows into its typed Go struct in strict mode: an unknown or duplicated field, or a
// value of the wrong type, is an error. It prints one JSON line per document:
//   {"kind":"Deployment","name":"api","status":"ok"}
//   {"kind":"Deployment","name":"api","status":"invalid","error":"strict decoding error: unknown field \"spec.replica\""}
//   {"kind":"ScaledObject","name":"p","status":"unknown-kind"}   (custom resources: not its job)
// The chart's tests use it for the core kinds; it exits 0 whatever it finds.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

type result struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func main() {
	codecs := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)
	decoder := codecs.UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			_ = out.Encode(result{Status: "invalid", Error: err.Error()})
			return
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
			continue
		}
		r := result{Kind: meta.Kind, Name: meta.Metadata.Name, Status: "ok"}
		if _, _, err := decoder.Decode(doc, nil, nil); err != nil {
			if runtime.IsNotRegisteredError(err) {
				r.Status = "unknown-kind"
			} else {
				r.Status, r.Error = "invalid", err.Error()
			}
		}
		_ = out.Encode(r)
	}
}
