// Command cert-manager-webhook runs cert-manager's own admission webhook server (validation,
// defaulting and the CertificateRequest identity/approval plugins, from
// internal/webhook.NewCertManagerWebhookServer at the pinned release) outside a cluster, for the
// local control plane: TLS from files the harness writes, kubeconfig from a flag, metrics off.
// tools/toolchain.sh builds it inside a wrapper module under cert-manager's import path (so the
// internal package is importable) and makes the listeners bind 127.0.0.1 only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cert-manager/cert-manager/internal/apis/config/shared"
	config "github.com/cert-manager/cert-manager/internal/apis/config/webhook"
	"github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	var opts config.WebhookConfiguration
	var securePort, healthzPort int
	// Own flag set: controller-runtime registers --kubeconfig on the default one.
	flags := flag.NewFlagSet("cert-manager-webhook", flag.ExitOnError)
	flags.StringVar(&opts.KubeConfig, "kubeconfig", "", "kubeconfig of the API server")
	flags.IntVar(&securePort, "secure-port", 0, "TLS port for admission requests (127.0.0.1)")
	flags.IntVar(&healthzPort, "healthz-port", 0, "plain HTTP port for /healthz and /livez (127.0.0.1)")
	flags.StringVar(&opts.TLSConfig.Filesystem.CertFile, "tls-cert-file", "", "serving certificate (PEM)")
	flags.StringVar(&opts.TLSConfig.Filesystem.KeyFile, "tls-private-key-file", "", "serving key (PEM)")
	_ = flags.Parse(os.Args[1:])
	opts.SecurePort, opts.HealthzPort = int32(securePort), int32(healthzPort)
	opts.MetricsListenAddress = "0" // "0" disables the metrics server
	opts.MetricsTLSConfig = shared.TLSConfig{}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := webhook.NewCertManagerWebhookServer(logf.Log, opts)
	if err == nil {
		err = srv.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook:", err)
		os.Exit(1)
	}
}
