// The kinesin command is a module of its own, so that programs importing the
// library do not get its dependencies. It requires the library, and the Redis
// checkpoint store (checkpoint/redischeckpoint, a module of its own), at
// v0.1.0, the version every module of the repository is tagged with
// together; without a replace directive here, so that
// `go install ...cmd/kinesin@latest` works.
//
// Until v0.1.0 is published, the go.work at the repository root builds this
// module against the checkout (its replaces of both at v0.1.0 stop the go
// command from fetching their go.mod): go build, go vet and go test work here
// on a clean clone. `go mod tidy` ignores go.work and cannot fetch v0.1.0, so
// scripts/tidy tidies this file and go.sum against the checkout, with
// temporary replaces of both by their directories:
//
//	go mod edit -replace github.com/kinesin-go/kinesin=../.. \
//	  -replace github.com/kinesin-go/kinesin/checkpoint/redischeckpoint=../../checkpoint/redischeckpoint &&
//	  GOWORK=off go mod tidy &&
//	  go mod edit -dropreplace github.com/kinesin-go/kinesin \
//	  -dropreplace github.com/kinesin-go/kinesin/checkpoint/redischeckpoint
//
// Once v0.1.0 is tagged, a plain `GOWORK=off go mod tidy` adds their
// checksums to go.sum.
module github.com/kinesin-go/kinesin/cmd/kinesin

go 1.26.0

require (
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/aws/aws-sdk-go-v2/config v1.33.15
	github.com/aws/aws-sdk-go-v2/credentials v1.20.15
	github.com/aws/aws-sdk-go-v2/service/dynamodb v1.73.1
	github.com/aws/aws-sdk-go-v2/service/kinesis v1.56.11
	github.com/aws/smithy-go v1.28.8
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/kinesin-go/kinesin v0.1.0
	github.com/kinesin-go/kinesin/checkpoint/redischeckpoint v0.1.0
	github.com/redis/go-redis/v9 v9.22.0
	golang.org/x/term v0.48.0
)

require (
	github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream v1.7.26 // indirect
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.20.7 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.10 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.10 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.10 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.24 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/endpoint-discovery v1.13.10 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.14.10 // indirect
	github.com/aws/aws-sdk-go-v2/service/signin v1.12.3 // indirect
	github.com/aws/aws-sdk-go-v2/service/sso v1.39.3 // indirect
	github.com/aws/aws-sdk-go-v2/service/ssooidc v1.44.3 // indirect
	github.com/aws/aws-sdk-go-v2/service/sts v1.51.8 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/segmentio/asm v1.2.1 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel v1.46.0 // indirect
	go.opentelemetry.io/otel/metric v1.46.0 // indirect
	go.opentelemetry.io/otel/trace v1.46.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
