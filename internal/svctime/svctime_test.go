package svctime_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go/middleware"

	"github.com/kinesin-go/kinesin/internal/svctime"
)

// roundTripper answers every call with an empty DescribeStreamSummary
// response dated date ("" for no Date header).
type roundTripper struct{ date string }

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/x-amz-json-1.1"}}
	if rt.date != "" {
		h.Set("Date", rt.date)
	}
	return &http.Response{StatusCode: 200, Header: h, Body: http.NoBody, Request: r}, nil
}

func describe(t *testing.T, date string) middleware.Metadata {
	t.Helper()
	client := kinesis.New(kinesis.Options{
		Region:      "us-east-1",
		HTTPClient:  &http.Client{Transport: roundTripper{date: date}},
		Credentials: aws.AnonymousCredentials{},
	})
	out, err := client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err != nil && !strings.Contains(err.Error(), "StreamDescriptionSummary") {
		t.Logf("DescribeStreamSummary: %v", err)
	}
	if out == nil {
		t.Fatal("no output")
	}
	return out.ResultMetadata
}

func TestBeforeReadsTheDateHeader(t *testing.T) {
	date := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	md := describe(t, date.Format(http.TimeFormat))
	local := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // ignored: the service's clock is known
	if got := svctime.Before(md, local, time.Second); !got.Equal(date) {
		t.Errorf("Before = %v, want the Date header %v", got, date)
	}
}

func TestBeforeFallsBackToTheLocalClock(t *testing.T) {
	local := time.Date(2030, 1, 1, 0, 0, 0, 500, time.UTC)
	for name, md := range map[string]middleware.Metadata{"no Date header": describe(t, ""), "no metadata": {}} {
		if got, want := svctime.Before(md, local, 5*time.Second), local.Add(-5*time.Second); !got.Equal(want) {
			t.Errorf("%s: Before = %v, want %v", name, got, want)
		}
	}
}
