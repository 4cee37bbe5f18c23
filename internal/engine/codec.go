package engine

import (
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// compressAbove is the payload size from which Baton compresses. A large
// flow's snapshot and its continue-as-new state can pass Temporal's 2 MiB
// payload limit (a 10,000-node flow does); ordinary payloads stay plain
// JSON so the Temporal Web UI shows them.
const compressAbove = 128 << 10

// MaxInputBytes bounds the encoded input of a run's workflow. Temporal
// refuses a payload over 2 MiB (its default blob size limit, "Blob data
// size exceeds limit"); the margin leaves room for what the interpreter
// carries across continue-as-new on top of its input (node states,
// control results) and for the schedule action that embeds the same
// input.
const MaxInputBytes = 2<<20 - 512<<10

// EncodedSize is the size of v as Baton hands it to Temporal: encoded by
// DataConverter, compressed when large.
func EncodedSize(v any) (int, error) {
	p, err := DataConverter().ToPayload(v)
	if err != nil {
		return 0, fmt.Errorf("encode payload: %w", err)
	}
	return proto.Size(p), nil
}

// DataConverter is the converter every Baton client and worker uses.
func DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), largePayloadCodec{
		zlib: converter.NewZlibCodec(converter.ZlibCodecOptions{}),
	})
}

// largePayloadCodec zlib-compresses payloads above compressAbove. Decoding
// is zlib's, which leaves payloads it did not encode untouched, so runs
// recorded before compression replay as they were.
type largePayloadCodec struct {
	zlib converter.PayloadCodec
}

func (c largePayloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if len(p.GetData()) < compressAbove {
			out[i] = p
			continue
		}
		enc, err := c.zlib.Encode([]*commonpb.Payload{p})
		if err != nil {
			return nil, err
		}
		out[i] = enc[0]
	}
	return out, nil
}

func (c largePayloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return c.zlib.Decode(payloads)
}
