/*
 * Host unit tests of ebridge.c, run by tests/test_bridge_c.py (and by hand:
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic ebridge.c test_ebridge.c -o t && ./t).
 * Prints one line per failed check and "ebridge: N checks, M failed"; exit status 0
 * only when every check passed.
 *
 * Cross-checks against the Python implementation and the golden vectors live in the
 * pytest suite (through a shared library); these tests stand on the C side alone.
 */
#include <stdio.h>
#include <string.h>

#include "ebridge.h"

static int n_checks = 0;
static int n_failed = 0;

#define CHECK(cond)                                                         \
    do {                                                                    \
        ++n_checks;                                                         \
        if (!(cond)) {                                                      \
            ++n_failed;                                                     \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                   \
    } while (0)

/* Feeds `len` bytes in pieces of `piece` bytes; collects up to `max` frames' types and
 * seqs. Returns the number of frames. */
static size_t feed_all(eb_decoder *d, const uint8_t *data, size_t len, size_t piece,
                       uint16_t *seqs, uint8_t *types, size_t max)
{
    size_t got = 0;
    eb_frame f;
    while (len) {
        size_t want = len < piece ? len : piece;
        size_t n = eb_decoder_write(d, data, want);
        data += n;
        len -= n;
        while (eb_decoder_next(d, &f)) {
            if (got < max) {
                seqs[got] = f.seq;
                types[got] = f.type;
            }
            ++got;
        }
    }
    return got;
}

static void test_crc(void)
{
    const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    CHECK(eb_crc16(0xFFFFu, check, sizeof check) == 0x29B1u);
    /* Chaining over a split buffer gives the same value. */
    CHECK(eb_crc16(eb_crc16(0xFFFFu, check, 4), check + 4, 5) == 0x29B1u);
    CHECK(eb_crc16(0xFFFFu, check, 0) == 0xFFFFu);
}

static void test_decision_roundtrip(void)
{
    uint8_t frame[64];
    eb_decoder d;
    eb_frame f;
    eb_decision in, out;
    size_t n;
    in.window_end_us = 0xDEADBEEFu;
    in.p_arousal_q16 = 65535u;
    in.p_valence_q16 = 12345u;
    in.labels = 1u;
    in.flags = 0u;
    in.reason = EB_REASON_NONE;
    n = eb_encode_decision(frame, sizeof frame, 7u, 1000u, &in);
    CHECK(n == EB_HEADER_SIZE + EB_DECISION_SIZE + EB_CRC_SIZE);
    CHECK(frame[0] == 0xA5u && frame[1] == 0x5Au && frame[2] == 1u && frame[3] == 3u);
    CHECK(eb_encode_decision(frame, n - 1u, 7u, 1000u, &in) == 0u);
    eb_decoder_init(&d);
    CHECK(eb_decoder_write(&d, frame, n) == n);
    CHECK(eb_decoder_next(&d, &f) == 1);
    CHECK(f.type == EB_FRAME_DECISION && f.seq == 7u && f.timestamp_us == 1000u);
    CHECK(eb_parse_decision(f.payload, f.length, &out) == 1);
    CHECK(out.window_end_us == in.window_end_us && out.p_arousal_q16 == 65535u &&
          out.p_valence_q16 == 12345u && out.labels == 1u && out.flags == 0u);
    CHECK(eb_parse_decision(f.payload, 11u, &out) == 0);
    CHECK(eb_decoder_next(&d, &f) == 0);
    CHECK(d.frames_ok == 1u && d.bytes_skipped == 0u && d.crc_errors == 0u);
}

static void test_data_formats(void)
{
    uint8_t frame[EB_MAX_FRAME];
    const int32_t v24[6] = {8388607L, -8388608L, -1, 0, 1, -123456};
    const int16_t v16[4] = {32767, -32768, -1, 2};
    const float vf[2] = {-1.5f, 3.25f};
    int32_t bad[1] = {8388608L};
    eb_data_view view;
    size_t n, k;

    n = eb_encode_data(frame, sizeof frame, 1u, 2u, 3u, EB_FMT_INT24, 3u, 2u, 100u, 5u, v24);
    CHECK(n == EB_HEADER_SIZE + EB_DATA_HEADER_SIZE + 18u + EB_CRC_SIZE);
    CHECK(eb_parse_data(frame + EB_HEADER_SIZE, n - EB_HEADER_SIZE - EB_CRC_SIZE, &view));
    CHECK(view.stream_id == 3u && view.n_channels == 3u && view.n_samples == 2u &&
          view.sample_index == 100u && view.lead_off_mask == 5u);
    for (k = 0; k < 6u; ++k) {
        CHECK(eb_data_sample(&view, k) == v24[k]);
    }
    /* A wrong length is malformed. */
    CHECK(eb_parse_data(frame + EB_HEADER_SIZE, n - EB_HEADER_SIZE - EB_CRC_SIZE - 1u, &view) == 0);
    CHECK(eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, EB_FMT_INT24, 1u, 1u, 0u, 0u, bad) == 0u);

    n = eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, EB_FMT_INT16, 2u, 2u, 0u, 0u, v16);
    CHECK(eb_parse_data(frame + EB_HEADER_SIZE, n - EB_HEADER_SIZE - EB_CRC_SIZE, &view));
    for (k = 0; k < 4u; ++k) {
        CHECK(eb_data_sample(&view, k) == v16[k]);
    }
    n = eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, EB_FMT_FLOAT32, 1u, 2u, 0u, 0u, vf);
    CHECK(eb_parse_data(frame + EB_HEADER_SIZE, n - EB_HEADER_SIZE - EB_CRC_SIZE, &view));
    CHECK(eb_data_sample(&view, 0u) == -1 && eb_data_sample(&view, 1u) == 3);
    /* Unknown format, zero channels, too large for one frame: refused. */
    CHECK(eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, 9u, 1u, 1u, 0u, 0u, v24) == 0u);
    CHECK(eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, EB_FMT_INT16, 0u, 1u, 0u, 0u, v16) == 0u);
    CHECK(eb_encode_data(frame, sizeof frame, 1u, 2u, 0u, EB_FMT_INT32, 32u, 255u, 0u, 0u, v24) == 0u);
}

static void test_info(void)
{
    uint8_t frame[EB_MAX_FRAME];
    eb_channel_desc ch[2];
    eb_stream_desc st;
    eb_device_info info;
    size_t n;
    memset(ch, 0, sizeof ch);
    memcpy(ch[0].name, "AF3", 3);
    ch[0].role = EB_ROLE_EEG;
    ch[0].scale = 0.5f;
    memcpy(ch[1].name, "ECGLEAD1", 8); /* a full name field, no terminator */
    ch[1].role = EB_ROLE_ECG;
    ch[1].unit = EB_UNIT_MV;
    ch[1].scale = 0.25f;
    st.stream_id = 0u;
    st.format = EB_FMT_INT24;
    st.n_channels = 2u;
    st.samples_per_frame = 25u;
    st.sampling_rate_hz = 250.0f;
    st.channels = ch;
    memset(&info, 0, sizeof info);
    info.device_id = 42u;
    info.n_streams = 1u;
    info.streams = &st;
    n = eb_encode_info(frame, sizeof frame, 0u, 0u, &info);
    CHECK(n == EB_HEADER_SIZE + 24u + 8u + 32u + EB_CRC_SIZE);
    CHECK(memcmp(frame + EB_HEADER_SIZE + 32u, "AF3\0\0\0\0\0", 8) == 0);
    CHECK(memcmp(frame + EB_HEADER_SIZE + 48u, "ECGLEAD1", 8) == 0);
    CHECK(eb_encode_info(frame, n - 1u, 0u, 0u, &info) == 0u);
    st.sampling_rate_hz = 0.0f;
    CHECK(eb_encode_info(frame, sizeof frame, 0u, 0u, &info) == 0u);
}

static void test_resync(void)
{
    /* Three decision frames; the middle one damaged, then truncated frames and noise. */
    uint8_t stream[512];
    uint16_t seqs[16];
    uint8_t types[16];
    eb_decision dec;
    eb_decoder d;
    size_t n = 0, len, piece, got;
    memset(&dec, 0, sizeof dec);
    len = eb_encode_decision(stream, sizeof stream, 1u, 0u, &dec);
    n += len;
    n += eb_encode_decision(stream + n, sizeof stream - n, 2u, 0u, &dec);
    stream[n - 5u] ^= 0x10u; /* one bit in frame 2's payload */
    n += eb_encode_decision(stream + n, sizeof stream - n, 3u, 0u, &dec);
    /* Frame 4 cut after 10 bytes, then frame 5 whole. */
    eb_encode_decision(stream + n, sizeof stream - n, 4u, 0u, &dec);
    n += 10u;
    n += eb_encode_decision(stream + n, sizeof stream - n, 5u, 0u, &dec);
    /* Noise with sync-like bytes (a false header with an impossible length), then frame 6. */
    memcpy(stream + n, "\xA5\x5A\x01\x03\xFF\xFF\xA5\xA5\x5A\x02", 10);
    n += 10u;
    n += eb_encode_decision(stream + n, sizeof stream - n, 6u, 0u, &dec);

    for (piece = 1u; piece <= 64u; piece *= 4u) {
        eb_decoder_init(&d);
        got = feed_all(&d, stream, n, piece, seqs, types, 16u);
        CHECK(got == 4u);
        CHECK(seqs[0] == 1u && seqs[1] == 3u && seqs[2] == 5u && seqs[3] == 6u);
        CHECK(d.crc_errors >= 1u);
        /* Every byte is accounted for. */
        CHECK(d.bytes_received == d.bytes_skipped + d.bytes_in_frames + (d.len - d.start));
        CHECK(d.bytes_received == (uint32_t)n);
    }
}

static void test_garbage_bounded(void)
{
    /* Far more garbage than the buffer holds, with a frame at the end. */
    static uint8_t noise[20000];
    uint8_t frame[64];
    uint16_t seqs[4];
    uint8_t types[4];
    eb_decoder d;
    uint32_t x = 12345u;
    size_t k, len, got;
    eb_decision dec;
    for (k = 0; k < sizeof noise; ++k) {
        x = x * 1103515245u + 12345u;
        noise[k] = (uint8_t)(x >> 16);
        if (k % 97u == 0u) {
            noise[k] = EB_SYNC0; /* plenty of false sync starts */
        }
        if (k % 97u == 1u) {
            noise[k] = EB_SYNC1;
        }
    }
    memset(&dec, 0, sizeof dec);
    len = eb_encode_decision(frame, sizeof frame, 9u, 0u, &dec);
    eb_decoder_init(&d);
    got = feed_all(&d, noise, sizeof noise, 333u, seqs, types, 4u);
    CHECK(d.len <= EB_DECODER_CAPACITY);
    got += feed_all(&d, frame, len, 333u, seqs + got, types + got, 4u - got);
    /* Delivered at once, though false headers before it claim longer frames. */
    CHECK(got == 1u && seqs[0] == 9u && types[0] == EB_FRAME_DECISION);
    CHECK(d.bytes_received == d.bytes_skipped + d.bytes_in_frames + (d.len - d.start));
}

static void test_frame_that_ends_first(void)
{
    /* A false header claiming 2048 bytes, then a frame: the frame ends first and is
     * delivered without waiting; the false candidate counts as overtaken. Then a frame
     * carried inside another frame's payload is delivered in place of the outer one. */
    uint8_t stream[128], inner[32], outer[96];
    uint16_t seqs[4];
    uint8_t types[4];
    eb_decision dec;
    eb_decoder d;
    size_t n, n_inner, n_outer, piece;
    memset(&dec, 0, sizeof dec);
    memcpy(stream, "\xA5\x5A\x01\x02\x00\x08", 6);
    n = 6u + eb_encode_decision(stream + 6, sizeof stream - 6u, 4u, 0u, &dec);
    for (piece = 1u; piece <= 64u; piece *= 8u) {
        eb_decoder_init(&d);
        CHECK(feed_all(&d, stream, n, piece, seqs, types, 4u) == 1u && seqs[0] == 4u);
        CHECK(d.overtaken == 1u && d.crc_errors == 0u && d.bytes_skipped == 6u);
    }
    n_inner = eb_encode_decision(inner, sizeof inner, 5u, 0u, &dec);
    memset(outer, 'x', sizeof outer);
    memcpy(outer + EB_HEADER_SIZE + 3u, inner, n_inner);
    n_outer = eb_finish_frame(outer, sizeof outer, EB_FRAME_DATA, 6u, 0u, n_inner + 6u);
    eb_decoder_init(&d);
    CHECK(feed_all(&d, outer, n_outer, 7u, seqs, types, 4u) == 1u && seqs[0] == 5u);
    CHECK(d.overtaken == 1u && d.bytes_in_frames == (uint32_t)n_inner);
    CHECK(d.bytes_received == d.bytes_skipped + d.bytes_in_frames + (d.len - d.start));
}

int main(void)
{
    test_crc();
    test_decision_roundtrip();
    test_data_formats();
    test_info();
    test_resync();
    test_garbage_bounded();
    test_frame_that_ends_first();
    printf("ebridge: %d checks, %d failed\n", n_checks, n_failed);
    return n_failed ? 1 : 0;
}
