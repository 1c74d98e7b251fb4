package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/apitoken/apitoken/otelapitoken"
)

// openMetrics returns the OpenTelemetry adapter exporting every interval
// to the exporter named by kind: "stdout" (JSON lines on stdout) or "otlp"
// (OTLP over HTTP, configured by the standard OTEL_EXPORTER_OTLP_*
// environment variables; default http://localhost:4318). Empty kind means
// no metrics: it returns nil. shutdown exports what is pending and stops.
func openMetrics(ctx context.Context, kind string, interval time.Duration, stdout io.Writer) (met *otelapitoken.Metrics, shutdown func(context.Context) error, err error) {
	var exp sdkmetric.Exporter
	switch kind {
	case "":
		return nil, nil, nil
	case "stdout":
		exp, err = stdoutmetric.New(stdoutmetric.WithWriter(stdout))
	case "otlp":
		exp, err = otlpmetrichttp.New(ctx)
	default:
		return nil, nil, fmt.Errorf("-metrics %q: want stdout or otlp", kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("-metrics %s: %w", kind, err)
	}
	if interval <= 0 {
		return nil, nil, fmt.Errorf("-metrics-interval %v: must be positive", interval)
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "apitoken-server"))),
	)
	met, err = otelapitoken.New(&otelapitoken.Options{MeterProvider: provider})
	if err != nil {
		provider.Shutdown(ctx)
		return nil, nil, err
	}
	return met, provider.Shutdown, nil
}
