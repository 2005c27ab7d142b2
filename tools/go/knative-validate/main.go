// Command knative-validate runs Knative Serving's own defaulting and validation (the code its
// admission webhook runs for serving.knative.dev/v1 Services) over Services read as JSON, under
// the feature flags a KnativeServing's config-features would set. tools/toolchain.sh builds it
// against the pinned knative.dev/serving release.
//
//	knative-validate [-feature name=enabled ...] < services.json
//
// Input: a JSON array of Services. Output: a JSON array, one {"name", "errors", "warnings"} per
// Service; exit 0 when every Service is accepted, 1 when any is rejected, 2 on bad input.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/config"
	v1 "knative.dev/serving/pkg/apis/serving/v1"
)

type flags map[string]string

func (f flags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f flags) Set(value string) error {
	name, setting, ok := strings.Cut(value, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", value)
	}
	f[name] = setting
	return nil
}

type verdict struct {
	Name     string `json:"name"`
	Errors   string `json:"errors"`
	Warnings string `json:"warnings"`
}

func main() {
	features := flags{}
	flag.Var(features, "feature", "a config-features entry, e.g. kubernetes.podspec-nodeselector=enabled (repeatable)")
	flag.Parse()

	featureConfig, err := config.NewFeaturesConfigFromMap(features)
	if err != nil {
		fmt.Fprintln(os.Stderr, "feature flags:", err)
		os.Exit(2)
	}
	defaults, err := config.NewDefaultsConfigFromMap(map[string]string{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "defaults:", err)
		os.Exit(2)
	}
	var services []v1.Service
	if err := json.NewDecoder(os.Stdin).Decode(&services); err != nil {
		fmt.Fprintln(os.Stderr, "reading Services:", err)
		os.Exit(2)
	}

	ctx := config.ToContext(context.Background(), &config.Config{Features: featureConfig, Defaults: defaults})
	ctx = apis.WithinCreate(ctx)
	verdicts, rejected := make([]verdict, 0, len(services)), false
	for i := range services {
		svc := &services[i]
		svc.SetDefaults(ctx)
		result := svc.Validate(ctx)
		v := verdict{Name: svc.Namespace + "/" + svc.Name}
		if errs := result.Filter(apis.ErrorLevel); errs != nil {
			v.Errors, rejected = errs.Error(), true
		}
		if warnings := result.Filter(apis.WarningLevel); warnings != nil {
			v.Warnings = warnings.Error()
		}
		verdicts = append(verdicts, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		os.Exit(2)
	}
	if rejected {
		os.Exit(1)
	}
}
