package engine

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"
)

func TestLargePayloadsAreCompressedSmallOnesStayPlain(t *testing.T) {
	dc := DataConverter()
	small, err := dc.ToPayload(map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if enc := string(small.GetMetadata()[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
		t.Fatalf("small payload encoded as %q", enc)
	}
	big := strings.Repeat("node-", 100_000) // 500 KB, compresses well
	p, err := dc.ToPayload(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.GetData()) >= len(big)/10 || string(p.GetMetadata()[converter.MetadataEncoding]) == converter.MetadataEncodingJSON {
		t.Fatalf("large payload not compressed: %d bytes, encoding %q", len(p.GetData()), p.GetMetadata()[converter.MetadataEncoding])
	}
	var back string
	if err := dc.FromPayload(p, &back); err != nil || back != big {
		t.Fatalf("round trip: %v (len %d)", err, len(back))
	}
	// A payload written before compression existed still decodes.
	plain, err := converter.GetDefaultDataConverter().ToPayload(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.FromPayload(plain, &back); err != nil || back != big {
		t.Fatalf("plain payload: %v", err)
	}
}
