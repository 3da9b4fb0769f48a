// Command mediastore is publink's reference origin: it serves a folder of
// media with JSON sidecar metadata over the origin contract, verifies the
// gateway's request signatures, and sends Standard Webhooks when files,
// folders or collections are deleted or moved through its management API.
//
//	mediastore -listen 127.0.0.1:9000 -data examples/demo -secret S \
//	    [-webhook http://127.0.0.1:8081/v1/events -webhook-secret whsec_…]
//
// See examples/README.md for the data layout and the management routes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/publink/publink/mediastore"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	data := flag.String("data", "", "data directory (required)")
	secret := flag.String("secret", "", "origin signing secret shared with the gateway (required; also the management bearer token)")
	hookURL := flag.String("webhook", "", "URL to POST Standard Webhooks to (optional)")
	hookSecret := flag.String("webhook-secret", "", "Standard Webhooks secret, whsec_<base64> or raw (required with -webhook)")
	flag.Parse()

	logger := log.New(os.Stderr, "mediastore: ", log.LstdFlags)
	if *data == "" || *secret == "" {
		fmt.Fprintln(os.Stderr, "mediastore: -data and -secret are required")
		flag.Usage()
		os.Exit(2)
	}
	srv, err := mediastore.New(mediastore.Config{
		DataDir:       *data,
		Secret:        *secret,
		WebhookURL:    *hookURL,
		WebhookSecret: *hookSecret,
		Logger:        logger,
	})
	if err != nil {
		logger.Fatal(err)
	}
	defer srv.Close()

	hs := &http.Server{
		Addr:              *listen,
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Printf("serving %s on http://%s", *data, *listen)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Fatal(err)
		}
	case <-ctx.Done():
		logger.Printf("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			logger.Printf("shutdown: %v", err)
		}
	}
}
