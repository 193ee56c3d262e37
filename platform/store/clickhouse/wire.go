package clickhouse

import (
	"bytes"
	"fmt"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/picket-dev/picket/platform/store"
)

// WireParameters are the parameter values of query as clickhouse-go writes
// them into the native protocol's Query packet: each a quoted field dump the
// server reads back with readQuoted before parsing it as the placeholder's
// type. It encodes through the driver's own encoder, so tests can check what
// a ClickHouse server receives without one.
func WireParameters(query string, params store.Params) (map[string]string, error) {
	var ps proto.Parameters
	for k, v := range QueryParameters(query, params) {
		ps = append(ps, proto.Parameter{Key: k, Value: v})
	}
	var buf chproto.Buffer
	if err := ps.Encode(&buf, 0); err != nil {
		return nil, fmt.Errorf("encode parameters: %w", err)
	}
	r := chproto.NewReader(bytes.NewReader(buf.Buf))
	out := map[string]string{}
	for range ps {
		key, err := r.Str()
		if err != nil {
			return nil, fmt.Errorf("decode parameter name: %w", err)
		}
		if _, err := r.UVarInt(); err != nil { // the setting's flags
			return nil, fmt.Errorf("decode parameter %s flags: %w", key, err)
		}
		if out[key], err = r.Str(); err != nil {
			return nil, fmt.Errorf("decode parameter %s: %w", key, err)
		}
	}
	return out, nil
}
