package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrFormat means a tokenizer file is malformed.
var ErrFormat = errors.New("tokenizer: malformed")

// Piece types of a SentencePiece model (sentencepiece_model.proto, ModelProto.SentencePiece.Type).
const (
	PieceNormal      = 1
	PieceUnknown     = 2
	PieceControl     = 3
	PieceUserDefined = 4
	PieceUnused      = 5
	PieceByte        = 6
)

// Model types of a SentencePiece model (TrainerSpec.ModelType).
const (
	SPUnigram = 1
	SPBPE     = 2
	SPWord    = 3
	SPChar    = 4
)

// SentencePiece is one piece of a SentencePiece model.
type SentencePiece struct {
	Piece string
	Score float32
	Type  int // PieceNormal, ... (NORMAL when absent)
}

// SentencePieceModel is the part of a tokenizer.model (a serialized sentencepiece ModelProto)
// that tokenizers and converters use.
type SentencePieceModel struct {
	Pieces       []SentencePiece
	ModelType    int  // SPUnigram (default), SPBPE, ...
	ByteFallback bool // TrainerSpec.byte_fallback
	UnkID        int  // TrainerSpec.unk_id (default 0)
	BosID        int  // default 1
	EosID        int  // default 2
	PadID        int  // default -1

	NormalizerName          string
	AddDummyPrefix          bool // NormalizerSpec.add_dummy_prefix (default true)
	RemoveExtraWhitespaces  bool // default true
	EscapeWhitespaces       bool // default true
	PrecompiledCharsmapSize int
}

// ParseSentencePiece decodes a tokenizer.model. It reads the whole input (models are a few MB)
// and never allocates more than the input's size.
func ParseSentencePiece(r io.Reader) (*SentencePieceModel, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m := &SentencePieceModel{ModelType: SPUnigram, BosID: 1, EosID: 2, PadID: -1,
		AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true}
	err = eachField(b, func(num int, wt int, v uint64, data []byte) error {
		switch num {
		case 1: // pieces
			if wt != wireBytes {
				return fmt.Errorf("pieces: wire type %d", wt)
			}
			p := SentencePiece{Type: PieceNormal}
			err := eachField(data, func(num, wt int, v uint64, data []byte) error {
				switch {
				case num == 1 && wt == wireBytes:
					p.Piece = string(data)
				case num == 2 && wt == wireFixed32:
					p.Score = math.Float32frombits(uint32(v))
				case num == 3 && wt == wireVarint:
					p.Type = int(v)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case 2: // trainer_spec
			if wt != wireBytes {
				return fmt.Errorf("trainer_spec: wire type %d", wt)
			}
			return eachField(data, func(num, wt int, v uint64, data []byte) error {
				if wt != wireVarint {
					return nil
				}
				switch num {
				case 3:
					m.ModelType = int(v)
				case 35:
					m.ByteFallback = v != 0
				case 40:
					m.UnkID = int(int32(v))
				case 41:
					m.BosID = int(int32(v))
				case 42:
					m.EosID = int(int32(v))
				case 43:
					m.PadID = int(int32(v))
				}
				return nil
			})
		case 3: // normalizer_spec
			if wt != wireBytes {
				return fmt.Errorf("normalizer_spec: wire type %d", wt)
			}
			return eachField(data, func(num, wt int, v uint64, data []byte) error {
				switch {
				case num == 1 && wt == wireBytes:
					m.NormalizerName = string(data)
				case num == 2 && wt == wireBytes:
					m.PrecompiledCharsmapSize = len(data)
				case num == 3 && wt == wireVarint:
					m.AddDummyPrefix = v != 0
				case num == 4 && wt == wireVarint:
					m.RemoveExtraWhitespaces = v != 0
				case num == 5 && wt == wireVarint:
					m.EscapeWhitespaces = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: sentencepiece model: %v", ErrFormat, err)
	}
	if len(m.Pieces) == 0 {
		return nil, fmt.Errorf("%w: sentencepiece model has no pieces", ErrFormat)
	}
	return m, nil
}

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// eachField walks the fields of one protobuf message.
func eachField(b []byte, fn func(num, wt int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad field key")
		}
		b = b[n:]
		num, wt := int(key>>3), int(key&7)
		if num == 0 {
			return errors.New("field number 0")
		}
		var v uint64
		var data []byte
		switch wt {
		case wireVarint:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad varint")
			}
			b = b[n:]
		case wireFixed64:
			if len(b) < 8 {
				return errors.New("truncated fixed64")
			}
			v = binary.LittleEndian.Uint64(b)
			b = b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return errors.New("truncated fixed32")
			}
			v = uint64(binary.LittleEndian.Uint32(b))
			b = b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("bad length-delimited field")
			}
			data = b[n : n+int(l)]
			b = b[n+int(l):]
		default:
			return fmt.Errorf("unsupported wire type %d", wt)
		}
		if err := fn(num, wt, v, data); err != nil {
			return err
		}
	}
	return nil
}
