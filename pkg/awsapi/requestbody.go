package awsapi

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// addRequestBodyGuard keeps the SDK from cutting its own responses. The race it closes:
//
//  1. net/http sends the headers of an SDK request on their own (the SDK's body is not a type it
//     knows to be in memory), then copies the body straight onto the connection, then reads the
//     body once more to make sure nothing is left over, and only then judges the request written.
//  2. The server can therefore answer before the write goroutine gets to that last read (it only
//     has to be descheduled for a moment on a loaded host), and the SDK (smithy-go's
//     ClientHandler) closes the request body as soon as Do returns the response headers.
//  3. The SDK's closed body answers that last read through WriteTo with io.EOF, which io.Copy
//     returns as an error. net/http takes it for a failed request write and closes the
//     connection, under the response body the SDK is reading.
//
// The attempt then fails as a DeserializationError ("use of closed network connection") for a
// request the service answered and acted on, and the SDK retries it: an extra request against the
// account's budget, and for a write a second application. It hit 1 to 25 calls of every kind (those
// with large answers most) per 10,000-instance benchmark on a loaded host.
//
// Hiding WriteTo makes the last read go through Read, which answers a closed body with a plain
// io.EOF that io.Copy takes as the end of the body. Read, Seek (the retryer rewinds the stream for
// each attempt) and the length are unchanged.
func addRequestBodyGuard(stack *middleware.Stack) error {
	// Build runs once per call, after Serialize set the stream and before the retryer clones the
	// request for each attempt, so every attempt shares the one wrapped stream.
	if err := stack.Build.Add(middleware.BuildMiddlewareFunc("ecs-drainer/RequestBodyGuard",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if s, ok := req.GetStream().(io.ReadSeeker); ok {
					if _, writerTo := s.(io.WriterTo); writerTo {
						guarded, err := req.SetStream(readSeeker{s})
						if err != nil {
							return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("guarding the request body: %w", err)
						}
						in.Request = guarded
					}
				}
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After); err != nil {
		return fmt.Errorf("adding request body guard: %w", err)
	}
	return nil
}

// readSeeker exposes only Read and Seek of the stream it wraps (see addRequestBodyGuard).
type readSeeker struct{ io.ReadSeeker }
