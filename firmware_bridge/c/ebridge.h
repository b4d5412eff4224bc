/*
 * ebridge: firmware side of the edge_emotion bridge protocol, version 1 (PROTOCOL.md).
 *
 * Portable C99: no heap, no globals, fixed buffers, only <stdint.h>, <stddef.h>,
 * <string.h>. Assumes IEEE-754 binary32 `float` (every MCU with an FPU or a soft-float
 * ABI does). All encoders write little-endian bytes whatever the CPU's byte order.
 *
 * Encoders return the number of bytes written into `out`, or 0 when the arguments are
 * invalid or `cap` is too small (nothing useful is written then).
 */
#ifndef EBRIDGE_H
#define EBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EB_SYNC0 0xA5u
#define EB_SYNC1 0x5Au
#define EB_VERSION 1u
#define EB_HEADER_SIZE 12u
#define EB_CRC_SIZE 2u
#define EB_MAX_PAYLOAD 2048u
#define EB_MAX_FRAME (EB_HEADER_SIZE + EB_MAX_PAYLOAD + EB_CRC_SIZE)
#define EB_MAX_STREAMS 4u
#define EB_MAX_CHANNELS_PER_STREAM 32u
#define EB_MAX_CHANNELS_TOTAL 64u
#define EB_DATA_HEADER_SIZE 12u
#define EB_DECISION_SIZE 12u
#define EB_NAME_SIZE 8u
#define EB_DEVICE_NAME_SIZE 16u

/* A receiver that only needs small frames (e.g. the downlink on a device) may set
 * EB_DECODER_MAX_PAYLOAD smaller to save RAM. Set it for the whole build
 * (-DEB_DECODER_MAX_PAYLOAD=16), never in one source file only: the decoder struct's
 * size depends on it. */
#ifndef EB_DECODER_MAX_PAYLOAD
#define EB_DECODER_MAX_PAYLOAD EB_MAX_PAYLOAD
#endif
#define EB_DECODER_CAPACITY (EB_HEADER_SIZE + EB_DECODER_MAX_PAYLOAD + EB_CRC_SIZE)

enum eb_frame_type {
    EB_FRAME_INFO = 0x01,
    EB_FRAME_DATA = 0x02,
    EB_FRAME_DECISION = 0x03,
    EB_FRAME_REQUEST_INFO = 0x04
};

enum eb_sample_format {
    EB_FMT_INT16 = 1,   /* samples: const int16_t[] */
    EB_FMT_INT24 = 2,   /* samples: const int32_t[], each in [-2^23, 2^23 - 1] */
    EB_FMT_INT32 = 3,   /* samples: const int32_t[] */
    EB_FMT_FLOAT32 = 4  /* samples: const float[] */
};

enum eb_role { EB_ROLE_OTHER = 0, EB_ROLE_EEG = 1, EB_ROLE_ECG = 2 };
enum eb_unit { EB_UNIT_UV = 0, EB_UNIT_MV = 1, EB_UNIT_V = 2, EB_UNIT_COUNTS = 3 };

/* Why the host abstained (PROTOCOL.md §3.3); treat an unknown code as EB_REASON_OTHER. */
enum eb_reason {
    EB_REASON_NONE = 0,
    EB_REASON_SIGNAL_QUALITY = 1, /* cause not told (older hosts) */
    EB_REASON_LEAD_OFF = 2,
    EB_REASON_NOT_ENOUGH_DATA = 3, /* warming up */
    EB_REASON_MODEL_ERROR = 4,
    EB_REASON_SAMPLES_MISSING = 5,
    EB_REASON_SATURATED = 6,
    EB_REASON_NON_FINITE_FEATURES = 7,
    EB_REASON_HEART_RATE_IMPLAUSIBLE = 8,
    EB_REASON_TOO_FEW_BEATS = 9,
    EB_REASON_FEATURES_FAILED = 10,
    EB_REASON_INVALID_OUTPUT = 11,
    EB_REASON_GAP = 12, /* the stream broke (long gap, resync); the host restarts */
    EB_REASON_BEATS_UNRELIABLE = 13, /* too many RR intervals corrected as artefacts */
    EB_REASON_OTHER = 255
};

typedef struct {
    char name[EB_NAME_SIZE]; /* NUL-padded; need not be NUL-terminated when full */
    uint8_t role;            /* enum eb_role */
    uint8_t unit;            /* enum eb_unit */
    float scale;             /* physical value = raw * scale */
} eb_channel_desc;

typedef struct {
    uint8_t stream_id;
    uint8_t format; /* enum eb_sample_format */
    uint8_t n_channels;
    uint8_t samples_per_frame;
    float sampling_rate_hz;
    const eb_channel_desc *channels; /* n_channels entries */
} eb_stream_desc;

typedef struct {
    uint32_t device_id;
    uint16_t firmware_version;
    char name[EB_DEVICE_NAME_SIZE];
    uint8_t n_streams;
    const eb_stream_desc *streams; /* n_streams entries */
} eb_device_info;

typedef struct {
    uint32_t window_end_us;
    uint16_t p_arousal_q16; /* P(high arousal) * 65535 */
    uint16_t p_valence_q16;
    uint8_t labels;         /* bit 0 arousal high, bit 1 valence high */
    uint8_t flags;          /* bit 0 abstained */
    uint8_t reason;         /* enum eb_reason */
} eb_decision;

/* Fields of a DATA payload; `samples` points into the payload (wire format). */
typedef struct {
    uint8_t stream_id;
    uint8_t format;
    uint8_t n_channels;
    uint8_t n_samples;
    uint32_t sample_index;
    uint32_t lead_off_mask;
    const uint8_t *samples;
} eb_data_view;

/* A frame that passed the CRC. `payload` points into the decoder's buffer and stays
 * valid until the next call of eb_decoder_write or eb_decoder_next. */
typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t length;
    uint16_t seq;
    uint32_t timestamp_us;
    const uint8_t *payload;
} eb_frame;

/* Receiver state. Invariant: bytes_received == bytes_skipped + bytes_in_frames + bytes
 * held (len - start). Candidates rejected: header_errors (version or length impossible),
 * crc_errors (complete, CRC mismatch), overtaken (a valid frame ended inside the length
 * it claimed, so it was dropped without waiting for that length). */
typedef struct {
    uint8_t buf[EB_DECODER_CAPACITY];
    size_t start;    /* first unprocessed byte in buf */
    size_t len;      /* end of the bytes held in buf */
    size_t consumed; /* bytes of the frame last returned, dropped on the next call */
    size_t checked;  /* candidates from start claiming to end by here failed their CRC */
    uint32_t bytes_received;
    uint32_t bytes_skipped;
    uint32_t bytes_in_frames;
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t header_errors;
    uint32_t overtaken;
} eb_decoder;

/* CRC-16/CCITT-FALSE: poly 0x1021, no reflection, xorout 0. Start with crc = 0xFFFF;
 * chain calls to cover split buffers. eb_crc16(0xFFFF, "123456789", 9) == 0x29B1. */
uint16_t eb_crc16(uint16_t crc, const uint8_t *data, size_t len);

size_t eb_sample_size(uint8_t format); /* bytes per sample on the wire, 0 if unknown */

/* Wraps a payload already laid out in out[EB_HEADER_SIZE ...] into a frame (header and
 * CRC written around it), so a firmware can fill samples in place without a copy. */
size_t eb_finish_frame(uint8_t *out, size_t cap, uint8_t type, uint16_t seq,
                       uint32_t timestamp_us, size_t payload_len);

size_t eb_encode_info(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                      const eb_device_info *info);

size_t eb_encode_data(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                      uint8_t stream_id, uint8_t format, uint8_t n_channels,
                      uint8_t n_samples, uint32_t sample_index, uint32_t lead_off_mask,
                      const void *samples /* n_samples * n_channels, sample-major */);

size_t eb_encode_decision(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                          const eb_decision *decision);

size_t eb_encode_request_info(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us);

/* Payload parsers: return 1 on success, 0 if the payload is malformed. */
int eb_parse_decision(const uint8_t *payload, size_t len, eb_decision *out);
int eb_parse_data(const uint8_t *payload, size_t len, eb_data_view *out);
/* Sample k (0-based, sample-major) of a DATA view, as int32. */
int32_t eb_data_sample(const eb_data_view *view, size_t k);
/* float32 samples: truncated toward zero, saturated to int32, NaN -> 0. */

/* Incremental receiver (PROTOCOL.md section 5): delivers the CRC-valid frame that ends
 * first, as the Python host does, in bounded memory (no heap). Usage:
 *   while (len) { size_t n = eb_decoder_write(&d, p, len); p += n; len -= n;
 *                 while (eb_decoder_next(&d, &f)) handle(&f); }
 * eb_decoder_write accepts at least one byte whenever eb_decoder_next returned 0. */
void eb_decoder_init(eb_decoder *d);
size_t eb_decoder_write(eb_decoder *d, const uint8_t *data, size_t len);
int eb_decoder_next(eb_decoder *d, eb_frame *frame);

#ifdef __cplusplus
}
#endif

#endif /* EBRIDGE_H */
