/* ebridge: see ebridge.h and PROTOCOL.md. */
#include "ebridge.h"

#include <string.h>

/* A build on a platform whose float is not 32 bits fails here instead of on the wire. */
typedef char eb_float_is_32_bits[(sizeof(float) == 4) ? 1 : -1];

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u32(p, bits);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint16_t eb_crc16(uint16_t crc, const uint8_t *data, size_t len)
{
    /* Bitwise form: 256 bytes of table would cost more flash than most of these
     * frames take to checksum at sensor rates. */
    size_t i;
    int bit;
    for (i = 0; i < len; ++i) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; ++bit) {
            if (crc & 0x8000u) {
                crc = (uint16_t)((crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

size_t eb_sample_size(uint8_t format)
{
    switch (format) {
    case EB_FMT_INT16: return 2u;
    case EB_FMT_INT24: return 3u;
    case EB_FMT_INT32: return 4u;
    case EB_FMT_FLOAT32: return 4u;
    default: return 0u;
    }
}

size_t eb_finish_frame(uint8_t *out, size_t cap, uint8_t type, uint16_t seq,
                       uint32_t timestamp_us, size_t payload_len)
{
    size_t total = EB_HEADER_SIZE + payload_len + EB_CRC_SIZE;
    uint16_t crc;
    if (out == NULL || payload_len > EB_MAX_PAYLOAD || cap < total) {
        return 0u;
    }
    out[0] = EB_SYNC0;
    out[1] = EB_SYNC1;
    out[2] = EB_VERSION;
    out[3] = type;
    put_u16(out + 4, (uint16_t)payload_len);
    put_u16(out + 6, seq);
    put_u32(out + 8, timestamp_us);
    crc = eb_crc16(0xFFFFu, out + 2, EB_HEADER_SIZE - 2u + payload_len);
    put_u16(out + EB_HEADER_SIZE + payload_len, crc);
    return total;
}

static void put_name(uint8_t *p, const char *name, size_t size)
{
    size_t i = 0;
    /* Copy up to the first NUL, then pad: never read past `size` characters. */
    for (; i < size && name[i] != '\0'; ++i) {
        p[i] = (uint8_t)name[i];
    }
    for (; i < size; ++i) {
        p[i] = 0u;
    }
}

size_t eb_encode_info(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                      const eb_device_info *info)
{
    size_t pos, s, c, total_channels = 0;
    uint8_t *pl;
    if (out == NULL || info == NULL || info->streams == NULL || info->n_streams == 0u ||
        info->n_streams > EB_MAX_STREAMS) {
        return 0u;
    }
    for (s = 0; s < info->n_streams; ++s) {
        const eb_stream_desc *sd = &info->streams[s];
        if (sd->n_channels == 0u || sd->n_channels > EB_MAX_CHANNELS_PER_STREAM ||
            sd->channels == NULL || eb_sample_size(sd->format) == 0u ||
            !(sd->sampling_rate_hz > 0.0f)) {
            return 0u;
        }
        total_channels += sd->n_channels;
    }
    if (total_channels > EB_MAX_CHANNELS_TOTAL ||
        cap < EB_HEADER_SIZE + 24u + 8u * info->n_streams + 16u * total_channels + EB_CRC_SIZE) {
        return 0u;
    }
    pl = out + EB_HEADER_SIZE;
    pl[0] = info->n_streams;
    pl[1] = 0u;
    put_u16(pl + 2, info->firmware_version);
    put_u32(pl + 4, info->device_id);
    put_name(pl + 8, info->name, EB_DEVICE_NAME_SIZE);
    pos = 24u;
    for (s = 0; s < info->n_streams; ++s) {
        const eb_stream_desc *sd = &info->streams[s];
        pl[pos + 0] = sd->stream_id;
        pl[pos + 1] = sd->format;
        pl[pos + 2] = sd->n_channels;
        pl[pos + 3] = sd->samples_per_frame;
        put_f32(pl + pos + 4, sd->sampling_rate_hz);
        pos += 8u;
        for (c = 0; c < sd->n_channels; ++c) {
            const eb_channel_desc *cd = &sd->channels[c];
            put_name(pl + pos, cd->name, EB_NAME_SIZE);
            pl[pos + 8] = cd->role;
            pl[pos + 9] = cd->unit;
            pl[pos + 10] = 0u;
            pl[pos + 11] = 0u;
            put_f32(pl + pos + 12, cd->scale);
            pos += 16u;
        }
    }
    return eb_finish_frame(out, cap, EB_FRAME_INFO, seq, timestamp_us, pos);
}

size_t eb_encode_data(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                      uint8_t stream_id, uint8_t format, uint8_t n_channels,
                      uint8_t n_samples, uint32_t sample_index, uint32_t lead_off_mask,
                      const void *samples)
{
    size_t width = eb_sample_size(format);
    size_t count = (size_t)n_samples * (size_t)n_channels;
    size_t payload_len = EB_DATA_HEADER_SIZE + count * width;
    size_t k;
    uint8_t *pl;
    if (out == NULL || samples == NULL || width == 0u || n_samples == 0u ||
        n_channels == 0u || n_channels > EB_MAX_CHANNELS_PER_STREAM ||
        payload_len > EB_MAX_PAYLOAD || cap < EB_HEADER_SIZE + payload_len + EB_CRC_SIZE) {
        return 0u;
    }
    pl = out + EB_HEADER_SIZE;
    pl[0] = stream_id;
    pl[1] = format;
    pl[2] = n_channels;
    pl[3] = n_samples;
    put_u32(pl + 4, sample_index);
    put_u32(pl + 8, lead_off_mask);
    pl += EB_DATA_HEADER_SIZE;
    switch (format) {
    case EB_FMT_INT16: {
        const int16_t *v = (const int16_t *)samples;
        for (k = 0; k < count; ++k) {
            put_u16(pl + 2u * k, (uint16_t)v[k]);
        }
        break;
    }
    case EB_FMT_INT24: {
        const int32_t *v = (const int32_t *)samples;
        for (k = 0; k < count; ++k) {
            uint32_t u;
            if (v[k] < -8388608L || v[k] > 8388607L) {
                return 0u;
            }
            u = (uint32_t)v[k];
            pl[3u * k + 0u] = (uint8_t)(u & 0xFFu);
            pl[3u * k + 1u] = (uint8_t)((u >> 8) & 0xFFu);
            pl[3u * k + 2u] = (uint8_t)((u >> 16) & 0xFFu);
        }
        break;
    }
    case EB_FMT_INT32: {
        const int32_t *v = (const int32_t *)samples;
        for (k = 0; k < count; ++k) {
            put_u32(pl + 4u * k, (uint32_t)v[k]);
        }
        break;
    }
    default: { /* EB_FMT_FLOAT32: width was checked above */
        const float *v = (const float *)samples;
        for (k = 0; k < count; ++k) {
            put_f32(pl + 4u * k, v[k]);
        }
        break;
    }
    }
    return eb_finish_frame(out, cap, EB_FRAME_DATA, seq, timestamp_us, payload_len);
}

size_t eb_encode_decision(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us,
                          const eb_decision *decision)
{
    uint8_t *pl;
    if (out == NULL || decision == NULL || cap < EB_HEADER_SIZE + EB_DECISION_SIZE + EB_CRC_SIZE) {
        return 0u;
    }
    pl = out + EB_HEADER_SIZE;
    put_u32(pl, decision->window_end_us);
    put_u16(pl + 4, decision->p_arousal_q16);
    put_u16(pl + 6, decision->p_valence_q16);
    pl[8] = decision->labels;
    pl[9] = decision->flags;
    pl[10] = decision->reason;
    pl[11] = 0u;
    return eb_finish_frame(out, cap, EB_FRAME_DECISION, seq, timestamp_us, EB_DECISION_SIZE);
}

size_t eb_encode_request_info(uint8_t *out, size_t cap, uint16_t seq, uint32_t timestamp_us)
{
    return eb_finish_frame(out, cap, EB_FRAME_REQUEST_INFO, seq, timestamp_us, 0u);
}

int eb_parse_decision(const uint8_t *payload, size_t len, eb_decision *out)
{
    /* Longer payloads are allowed: later revisions may append fields. */
    if (payload == NULL || out == NULL || len < EB_DECISION_SIZE) {
        return 0;
    }
    out->window_end_us = get_u32(payload);
    out->p_arousal_q16 = get_u16(payload + 4);
    out->p_valence_q16 = get_u16(payload + 6);
    out->labels = payload[8];
    out->flags = payload[9];
    out->reason = payload[10];
    return 1;
}

int eb_parse_data(const uint8_t *payload, size_t len, eb_data_view *out)
{
    size_t width;
    if (payload == NULL || out == NULL || len < EB_DATA_HEADER_SIZE) {
        return 0;
    }
    width = eb_sample_size(payload[1]);
    if (width == 0u || payload[2] == 0u || payload[2] > EB_MAX_CHANNELS_PER_STREAM ||
        payload[3] == 0u ||
        len != EB_DATA_HEADER_SIZE + (size_t)payload[2] * (size_t)payload[3] * width) {
        return 0;
    }
    out->stream_id = payload[0];
    out->format = payload[1];
    out->n_channels = payload[2];
    out->n_samples = payload[3];
    out->sample_index = get_u32(payload + 4);
    out->lead_off_mask = get_u32(payload + 8);
    out->samples = payload + EB_DATA_HEADER_SIZE;
    return 1;
}

int32_t eb_data_sample(const eb_data_view *view, size_t k)
{
    const uint8_t *p;
    switch (view->format) {
    case EB_FMT_INT16:
        return (int32_t)(int16_t)get_u16(view->samples + 2u * k);
    case EB_FMT_INT24: {
        uint32_t u;
        p = view->samples + 3u * k;
        u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
        /* Sign-extend from bit 23 without relying on implementation-defined shifts. */
        return (u & 0x800000u) ? (int32_t)((int32_t)(u ^ 0x800000u) - 8388608L)
                               : (int32_t)u;
    }
    case EB_FMT_INT32: {
        uint32_t u = get_u32(view->samples + 4u * k);
        return (u & 0x80000000u) ? (int32_t)(-(int32_t)(~u) - 1) : (int32_t)u;
    }
    case EB_FMT_FLOAT32: {
        uint32_t u = get_u32(view->samples + 4u * k);
        float f;
        memcpy(&f, &u, sizeof f);
        if (!(f == f)) {
            return 0;
        }
        if (f >= 2147483647.0f) {
            return (int32_t)2147483647L;
        }
        if (f <= -2147483648.0f) {
            return (int32_t)(-2147483647L - 1L);
        }
        return (int32_t)f;
    }
    default:
        return 0;
    }
}

void eb_decoder_init(eb_decoder *d)
{
    memset(d, 0, sizeof *d);
}

size_t eb_decoder_write(eb_decoder *d, const uint8_t *data, size_t len)
{
    size_t room, n;
    d->start += d->consumed;
    d->consumed = 0u;
    if (d->checked < d->start) {
        d->checked = d->start;
    }
    /* Compact once per write, not once per skipped byte. */
    if (d->start) {
        memmove(d->buf, d->buf + d->start, d->len - d->start);
        d->len -= d->start;
        d->checked -= d->start;
        d->start = 0u;
    }
    room = sizeof d->buf - d->len;
    n = len < room ? len : room;
    if (n) {
        memcpy(d->buf + d->len, data, n);
    }
    d->len += n;
    d->bytes_received += (uint32_t)n;
    return n;
}

/* Receiving (PROTOCOL.md section 5): a candidate is a sync word; with a plausible header
 * it claims a frame ending `claimed` bytes after it. The frame delivered next is the
 * CRC-valid one that ENDS first (on a tie, the one starting first), so a damaged or false
 * header claiming a long payload never holds back the frames after it. Claimed ends are
 * taken in increasing order; every candidate from `start` whose claimed frame ends at
 * or before `checked` is complete and failed its CRC. No other state: memory is the
 * buffer (one maximum frame) and two words. Time: one pass over the buffer per distinct
 * claimed end, plus one CRC per complete candidate (a buffer full of false sync words
 * costs O(capacity^2) byte reads; the downlink-only build holds 30 bytes). */

/* Frame size a plausible header at p claims, 0 if the header is impossible. */
static size_t claimed(const uint8_t *p)
{
    size_t length = get_u16(p + 4);
    if (p[2] != EB_VERSION || length > EB_DECODER_MAX_PAYLOAD) {
        return 0u;
    }
    return EB_HEADER_SIZE + length + EB_CRC_SIZE;
}

/* A whole sync word at i (i + 1 < len). */
static int at_sync(const eb_decoder *d, size_t i)
{
    return d->buf[i] == EB_SYNC0 && d->buf[i + 1u] == EB_SYNC1;
}

/* Passes over bytes that are not a sync word and over candidates already decided
 * (impossible header; complete with a failed CRC), counting them, up to the first
 * candidate still waiting for bytes. A trailing lone first half of a sync word is kept. */
static void pass_decided(eb_decoder *d)
{
    size_t i = d->start, size;
    for (;;) {
        while (i < d->len && !(d->buf[i] == EB_SYNC0 &&
                               (i + 1u == d->len || d->buf[i + 1u] == EB_SYNC1))) {
            ++i;
        }
        if (d->len - i < EB_HEADER_SIZE) {
            break;
        }
        size = claimed(d->buf + i);
        if (size == 0u) {
            d->header_errors++;
        } else if (i + size <= d->checked) {
            d->crc_errors++;
        } else {
            break;
        }
        ++i;
    }
    d->bytes_skipped += (uint32_t)(i - d->start);
    d->start = i;
}

/* The least claimed end beyond `checked` among candidates with a whole header, 0 if none. */
static size_t next_end(const eb_decoder *d)
{
    size_t i, size, best = 0u;
    for (i = d->start; i + EB_HEADER_SIZE <= d->len; ++i) {
        if (at_sync(d, i) && (size = claimed(d->buf + i)) != 0u && i + size > d->checked &&
            (best == 0u || i + size < best)) {
            best = i + size;
        }
    }
    return best;
}

static int crc_ok(const uint8_t *p, size_t size)
{
    size_t body = size - EB_CRC_SIZE;
    return eb_crc16(0xFFFFu, p + 2, body - 2u) == get_u16(p + body);
}

/* Delivers the frame buf[i, end): counts the candidates passed over before it. */
static void deliver(eb_decoder *d, size_t i, size_t end, eb_frame *frame)
{
    const uint8_t *p = d->buf + i;
    size_t k, size;
    for (k = d->start; k < i; ++k) {
        if (!at_sync(d, k)) {
            continue;
        }
        size = claimed(d->buf + k);
        if (size == 0u) {
            d->header_errors++;
        } else if (k + size <= end) {
            d->crc_errors++; /* checked before this frame, and failed */
        } else {
            d->overtaken++; /* would have ended after it: dropped without waiting */
        }
    }
    frame->version = p[2];
    frame->type = p[3];
    frame->length = get_u16(p + 4);
    frame->seq = get_u16(p + 6);
    frame->timestamp_us = get_u32(p + 8);
    frame->payload = p + EB_HEADER_SIZE;
    d->frames_ok++;
    d->bytes_skipped += (uint32_t)(i - d->start);
    d->bytes_in_frames += (uint32_t)(end - i);
    d->start = i;
    d->consumed = end - i;
    d->checked = end;
}

int eb_decoder_next(eb_decoder *d, eb_frame *frame)
{
    d->start += d->consumed;
    d->consumed = 0u;
    if (d->checked < d->start) {
        d->checked = d->start;
    }
    for (;;) {
        size_t i, end, size;
        pass_decided(d);
        end = next_end(d);
        if (end == 0u || end > d->len) {
            return 0; /* the frame that could end first is not complete yet */
        }
        for (i = d->start; i + EB_HEADER_SIZE + EB_CRC_SIZE <= end; ++i) {
            if (at_sync(d, i) && (size = claimed(d->buf + i)) != 0u && i + size == end &&
                crc_ok(d->buf + i, size)) {
                deliver(d, i, end, frame);
                return 1;
            }
        }
        d->checked = end; /* every candidate ending there failed its CRC */
    }
}
