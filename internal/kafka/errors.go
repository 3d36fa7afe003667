package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/millrace/millrace"
)

// errorCode maps an engine error to the Kafka error code a client acts on.
// nil is NONE (0). Errors the engine does not classify are
// UNKNOWN_SERVER_ERROR, which clients treat as fatal for the request.
func errorCode(err error) int16 {
	var pe *protoError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &pe):
		return pe.code.Code
	case errors.Is(err, millrace.ErrUnknownTopic), errors.Is(err, millrace.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, millrace.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, millrace.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, millrace.ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, millrace.ErrInvalidBatch):
		return kerr.InvalidRecord.Code
	case errors.Is(err, millrace.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, millrace.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, millrace.ErrOverloaded):
		// Retriable: the client backs off (ThrottleMillis says how long)
		// and sends the batch again; the connection stays up.
		return kerr.RequestTimedOut.Code
	case errors.Is(err, millrace.ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, millrace.ErrClosed):
		// The log is closing under the server: retriable, and it makes
		// the client refresh its metadata and reconnect.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, millrace.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, millrace.ErrInvalid):
		return kerr.InvalidRequest.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns err's text for a response's ErrorMessage field, or
// nil for no error.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// strp returns a pointer to s, for kmsg's nullable strings.
func strp(s string) *string { return &s }

// protoError is an error the Kafka front end itself decides, with the
// Kafka error it is answered with.
type protoError struct {
	code *kerr.Error
	msg  string
}

func (e *protoError) Error() string { return e.msg }

// protoErrf returns a protoError answered with code.
func protoErrf(code *kerr.Error, format string, args ...any) error {
	return &protoError{code: code, msg: "kafka: " + fmt.Sprintf(format, args...)}
}

// errNoTransactions answers every transactional request: millrace has no
// transaction coordinator.
var errNoTransactions = protoErrf(kerr.UnsupportedVersion, "millrace does not support Kafka transactions (transactional.id); use an idempotent producer")
