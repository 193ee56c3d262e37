package embedded

import "context"

// OnOneSession runs stmts in order on one session (session settings such as
// query parameters carry over) and returns the last one's JSONEachRow output.
func (b *Backend) OnOneSession(ctx context.Context, stmts ...string) ([]byte, error) {
	s, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer b.release(s)
	for _, q := range stmts[:len(stmts)-1] {
		if err := run(s, q); err != nil {
			return nil, err
		}
	}
	res, err := s.Query(stmts[len(stmts)-1], "JSONEachRow")
	if err != nil {
		return nil, err
	}
	defer res.Free()
	return append([]byte(nil), res.Buf()...), nil
}
