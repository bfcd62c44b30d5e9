// Package oteltest holds the tests of kinesin's OpenTelemetry instrumentation
// that read what it records through the OpenTelemetry SDK: the instruments
// of internal/telemetry as documented, and the metrics, spans and logs of a
// stream consumed from kinesistest. It is a module of its own so that the
// library's module requires the OpenTelemetry API only, never the SDK: a
// program that imports kinesin does not get the SDK in its module graph.
package oteltest
