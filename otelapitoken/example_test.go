package otelapitoken_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/otelapitoken"
)

// Install the adapter on the Manager's options, then read the instruments
// as any OpenTelemetry exporter would.
func ExampleMetrics_Install() {
	reader := sdkmetric.NewManualReader() // in production: a periodic reader and an exporter
	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		panic(err)
	}
	opts := &apitoken.Options{}
	met.Install(opts)
	m, err := apitoken.New(memstore.New(), opts)
	if err != nil {
		panic(err)
	}
	defer m.Close()

	m.Verify(context.Background(), "atk_not_a_token", "")

	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, mt := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := mt.Data.(metricdata.Sum[int64]); ok && mt.Name == "apitoken.verifications" {
			for _, p := range sum.DataPoints {
				v, _ := p.Attributes.Value(otelapitoken.AttrErrorType)
				fmt.Println(mt.Name, otelapitoken.AttrErrorType, v.String(), p.Value)
			}
		}
	}
	// Output: apitoken.verifications error.type malformed 1
}
