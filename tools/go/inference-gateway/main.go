// Command inference-gateway is the local control plane's stand-in for a Gateway that implements
// the Gateway API Inference Extension (what Istio, kgateway or Envoy Gateway do with Envoy's
// ext_proc filter), reduced to the data path: for each HTTP request under a route's path prefix it
// asks that route's endpoint picker (EPP) over ext_proc which replica to use, then forwards there.
//
// Protocol as the EPP implements it (GIE v1.5.0 pkg/epp/handlers/server.go StreamingServer.Process,
// docs/proposals/004-endpoint-picker-protocol): request headers, then the whole body in
// FULL_DUPLEX_STREAMED mode; the EPP answers the headers phase only after the body's end of
// stream, with x-gateway-destination-endpoint in the header mutation (and envoy.lb dynamic
// metadata), then the possibly rewritten body as streamed chunks; or an ImmediateResponse (400,
// 429, 503...) which is returned to the client as is. Response headers and body go through the EPP
// too (it reads usage for its metrics and may rewrite the model name). A picker that cannot be
// reached is FailClose: 503, never a blind pick.
//
//	inference-gateway -listen 127.0.0.1:PORT -route /model-a=127.0.0.1:9002 [-route ...] [-epp-plaintext]
//	inference-gateway health ADDR [SERVICE]    exit 0 when ADDR's grpc.health.v1 service is SERVING
//
// Every listener is loopback; an endpoint outside 127.0.0.0/8 is refused (502).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const destinationHeader = "x-gateway-destination-endpoint"

type routes map[string]string // path prefix -> EPP address

func (r routes) String() string { return fmt.Sprint(map[string]string(r)) }
func (r routes) Set(v string) error {
	prefix, addr, ok := strings.Cut(v, "=")
	if !ok || !strings.HasPrefix(prefix, "/") || addr == "" {
		return fmt.Errorf("want /prefix=host:port, got %q", v)
	}
	r[strings.TrimSuffix(prefix, "/")] = addr
	return nil
}

func dial(addr string, plaintext bool) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if !plaintext {
		// The EPP serves a self-signed certificate unless given one (--cert-path); conformant
		// gateways skip verification for it too (GIE's chart: Istio DestinationRule insecureSkipVerify).
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
}

func health(args []string, plaintext bool) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: inference-gateway health ADDR [SERVICE]")
		return 2
	}
	service := ""
	if len(args) > 1 {
		service = args[1]
	}
	conn, err := dial(args[0], plaintext)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(resp.GetStatus())
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return 1
	}
	return 0
}

type gateway struct {
	routes  routes
	pickers map[string]extprocv3.ExternalProcessorClient
	client  *http.Client
}

func (g *gateway) match(path string) (string, string) {
	prefixes := make([]string, 0, len(g.routes))
	for p := range g.routes {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			rest := strings.TrimPrefix(path, p) // HTTPRoute URLRewrite ReplacePrefixMatch "/"
			if rest == "" {
				rest = "/"
			}
			return p, rest
		}
	}
	return "", ""
}

func headerMap(h http.Header, pseudo map[string]string) *corev3.HeaderMap {
	out := &corev3.HeaderMap{}
	for k, v := range pseudo {
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	for k, vs := range h {
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: strings.ToLower(k), RawValue: []byte(strings.Join(vs, ","))})
	}
	return out
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Print(msg)
	http.Error(w, msg, code)
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix, path := g.match(r.URL.Path)
	if prefix == "" {
		fail(w, http.StatusNotFound, "no route for %s", r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(w, http.StatusBadRequest, "reading request body: %v", err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := g.pickers[prefix].Process(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "endpoint picker %s unreachable (FailClose): %v", g.routes[prefix], err)
		return
	}
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	pseudo := map[string]string{":method": r.Method, ":path": path, ":authority": r.Host, ":scheme": "http"}
	send := func(req *extprocv3.ProcessingRequest) bool {
		if err := stream.Send(req); err != nil {
			fail(w, http.StatusServiceUnavailable, "endpoint picker %s (FailClose): %v", g.routes[prefix], err)
			return false
		}
		return true
	}
	if !send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headerMap(r.Header, pseudo), EndOfStream: len(body) == 0}}}) {
		return
	}
	if len(body) > 0 && !send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}}}) {
		return
	}
	// Request phase: the headers answer (destination), then the body chunks until end of stream.
	var destination string
	set := map[string]string{}
	var newBody []byte
	bodyDone := len(body) == 0
	headersDone := false
	for !(headersDone && bodyDone) {
		resp, err := stream.Recv()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "endpoint picker %s (FailClose): %v", g.routes[prefix], err)
			return
		}
		switch v := resp.Response.(type) {
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			w.WriteHeader(int(v.ImmediateResponse.GetStatus().GetCode()))
			_, _ = w.Write(v.ImmediateResponse.GetBody())
			return
		case *extprocv3.ProcessingResponse_RequestHeaders:
			headersDone = true
			for _, h := range v.RequestHeaders.GetResponse().GetHeaderMutation().GetSetHeaders() {
				set[strings.ToLower(h.GetHeader().GetKey())] = string(h.GetHeader().GetRawValue())
			}
			destination = set[destinationHeader]
		case *extprocv3.ProcessingResponse_RequestBody:
			m := v.RequestBody.GetResponse().GetBodyMutation()
			if s := m.GetStreamedResponse(); s != nil {
				newBody = append(newBody, s.GetBody()...)
				bodyDone = s.GetEndOfStream()
			} else {
				newBody, bodyDone = m.GetBody(), true
			}
		}
	}
	if destination == "" {
		fail(w, http.StatusBadGateway, "endpoint picker %s picked no endpoint", g.routes[prefix])
		return
	}
	endpoint := strings.Split(destination, ",")[0]
	if host, _, err := net.SplitHostPort(endpoint); err != nil || !net.ParseIP(host).IsLoopback() {
		fail(w, http.StatusBadGateway, "picked endpoint %q is not a loopback address (local control plane)", endpoint)
		return
	}
	if len(body) == 0 {
		newBody = nil
	}
	up, _ := http.NewRequestWithContext(ctx, r.Method, "http://"+endpoint+path, strings.NewReader(string(newBody)))
	up.Header = r.Header.Clone()
	for k, v := range set {
		if !strings.HasPrefix(k, ":") && k != "content-length" {
			up.Header.Set(k, v)
		}
	}
	up.ContentLength = int64(len(newBody))
	upResp, err := g.client.Do(up)
	if err != nil {
		fail(w, http.StatusBadGateway, "forwarding to %s: %v", endpoint, err)
		return
	}
	defer upResp.Body.Close()
	// Response phase through the picker, like Envoy with response_body_mode FULL_DUPLEX_STREAMED:
	// chunks go to the picker as they arrive; what it sends back goes to the client.
	respPseudo := map[string]string{":status": fmt.Sprint(upResp.StatusCode)}
	if !send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: headerMap(upResp.Header, respPseudo)}}}) {
		return
	}
	go func() {
		buf := make([]byte, 32*1024)
		for {
			n, err := upResp.Body.Read(buf)
			eos := err != nil
			chunk := append([]byte(nil), buf[:n]...)
			if stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
				ResponseBody: &extprocv3.HttpBody{Body: chunk, EndOfStream: eos}}}) != nil || eos {
				return
			}
		}
	}()
	flusher, _ := w.(http.Flusher)
	wroteHeaders := false
	writeHeaders := func() {
		if !wroteHeaders {
			for k, vs := range upResp.Header {
				if !strings.EqualFold(k, "content-length") {
					w.Header()[k] = vs
				}
			}
			// Which replica served it (the name GIE's conformance suite uses for it).
			w.Header().Set("x-gateway-destination-endpoint-served", endpoint)
			w.WriteHeader(upResp.StatusCode)
			wroteHeaders = true
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			writeHeaders()
			return
		}
		switch v := resp.Response.(type) {
		case *extprocv3.ProcessingResponse_ResponseHeaders:
			writeHeaders()
		case *extprocv3.ProcessingResponse_ResponseBody:
			writeHeaders()
			m := v.ResponseBody.GetResponse().GetBodyMutation()
			if s := m.GetStreamedResponse(); s != nil {
				_, _ = w.Write(s.GetBody())
				if flusher != nil {
					flusher.Flush()
				}
				if s.GetEndOfStream() {
					return
				}
			} else {
				_, _ = w.Write(m.GetBody())
				return
			}
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			if !wroteHeaders {
				w.WriteHeader(int(v.ImmediateResponse.GetStatus().GetCode()))
				_, _ = w.Write(v.ImmediateResponse.GetBody())
			}
			return
		}
	}
}

func main() {
	plaintext := flag.Bool("epp-plaintext", false, "talk to the pickers without TLS (EPP --secure-serving=false)")
	if len(os.Args) > 1 && os.Args[1] == "health" {
		fs := flag.NewFlagSet("health", flag.ExitOnError)
		p := fs.Bool("epp-plaintext", false, "without TLS")
		_ = fs.Parse(os.Args[2:])
		os.Exit(health(fs.Args(), *p))
	}
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	rs := routes{}
	flag.Var(rs, "route", "/prefix=EPP_HOST:PORT (repeatable): requests under /prefix go through that picker")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-listen %q: loopback addresses only", *listen)
	}
	g := &gateway{routes: rs, pickers: map[string]extprocv3.ExternalProcessorClient{},
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	for prefix, addr := range rs {
		conn, err := dial(addr, *plaintext)
		if err != nil {
			log.Fatalf("route %s: %v", prefix, err)
		}
		g.pickers[prefix] = extprocv3.NewExternalProcessorClient(conn)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("inference-gateway listening on %s routes %v", ln.Addr(), rs)
	log.Fatal(http.Serve(ln, g))
}
