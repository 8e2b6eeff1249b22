package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vkinfer/vkinfer"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (docs/SERVING.md lists names and labels).
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec   // model, version, protocol, outcome
	latency    *prometheus.HistogramVec // model, version, protocol
	queue      *prometheus.HistogramVec // model, version
	compute    *prometheus.HistogramVec // model, version
	batchSize  *prometheus.HistogramVec // model, version
	modelReady *prometheus.GaugeVec     // model, version
	instRuns   *prometheus.CounterVec   // model, version, instance
}

func newMetrics(dev *vkinfer.Device) *metrics {
	lat := prometheus.ExponentialBuckets(50e-6, 2, 18) // 50 µs .. 6.5 s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkinfer_requests_total",
			Help: "Inference requests by model, version, protocol (rest, grpc) and outcome (success, invalid, not_found, queue_full, unavailable, cancelled, error).",
		}, []string{"model", "version", "protocol", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkinfer_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer (decoding, queue, compute, encoding), in seconds.",
			Buckets: lat,
		}, []string{"model", "version", "protocol"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkinfer_queue_duration_seconds",
			Help:    "Time a request waited in its model's queue before its batch ran, in seconds.",
			Buckets: lat,
		}, []string{"model", "version"}),
		compute: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkinfer_compute_duration_seconds",
			Help:    "Time of the Model.Run that computed a request (its whole batch), in seconds.",
			Buckets: lat,
		}, []string{"model", "version"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkinfer_batch_size",
			Help:    "Rows per Model.Run (the batch the dynamic batcher formed).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model", "version"}),
		modelReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vkinfer_model_ready",
			Help: "1 for each loaded model version.",
		}, []string{"model", "version"}),
		instRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkinfer_instance_runs_total",
			Help: "Model.Run calls (batches) per model instance (config instance_group; instances are numbered 0 to count-1).",
		}, []string{"model", "version", "instance"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.queue, m.compute, m.batchSize, m.modelReady, m.instRuns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if dev != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vkinfer_device_memory_bytes",
			Help: "Device memory held by the engine's arenas (weights, activations, staging), in bytes.",
		}, func() float64 { return float64(dev.Stats().DeviceBytes()) }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vkinfer_device_memory_in_use_bytes",
			Help: "Device memory handed out to live buffers, in bytes.",
		}, func() float64 {
			var n int64
			for _, a := range dev.Stats().Arenas {
				n += a.InUse
			}
			return float64(n)
		}))
	}
	return m
}

// MetricsHandler serves the metrics in Prometheus' text format (mount it
// at /metrics on the metrics port).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}
