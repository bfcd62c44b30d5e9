// The kinesin command is a module of its own, so that programs importing the
// library do not get its dependencies. It requires the library at v0.1.0, the
// version every module of the repository is tagged with together; without a
// replace directive here, so that `go install ...cmd/kinesin@latest` works.
//
// Until v0.1.0 is published, the go.work at the repository root builds this
// module against the library in the checkout (its `replace ... v0.1.0 => ./`
// stops the go command from fetching v0.1.0's go.mod): go build, go vet and
// go test work here on a clean clone. `go mod tidy` ignores go.work and
// cannot fetch v0.1.0, so this file and go.sum are tidied against the
// checkout and the replace dropped again:
//
//	go mod edit -replace github.com/kinesin-go/kinesin=../.. &&
//	  GOWORK=off go mod tidy &&
//	  go mod edit -dropreplace github.com/kinesin-go/kinesin
//
// Once v0.1.0 is tagged, a plain `GOWORK=off go mod tidy` adds the library's
// own checksum to go.sum.
module github.com/kinesin-go/kinesin/cmd/kinesin

go 1.26

require (
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/aws/aws-sdk-go-v2/credentials v1.20.15
	github.com/aws/aws-sdk-go-v2/service/kinesis v1.56.11
	github.com/kinesin-go/kinesin v0.1.0
)

require (
	github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream v1.7.26 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.10 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.10 // indirect
	github.com/aws/smithy-go v1.28.8 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
