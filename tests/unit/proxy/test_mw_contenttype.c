/* contentType: the spec (autoDetect), and Go's DetectContentType table signature by
 * signature: HTML tags after white space in either case and only as whole tags, XML,
 * byte order marks, images, audio and video (the mp4 ftyp box), fonts, archives, text
 * against binary, and the 512-byte limit. */
#include "core/hc_alloc.h"
#include "json_fixture.h"
#include "proxy/mw_contenttype.h"

#include <errno.h>
#include <string.h>

static void test_spec(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int rc, enabled;
    } cases[] = {
        {"{}", 0, 1},
        {"{'autoDetect': true}", 0, 1},
        {"{'autoDetect': false}", 0, 0},
        {"{'autoDetect': 'maybe'}", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = J(cases[i].spec);
        void *cfg = NULL;
        char err[128] = "";
        assert_int_equal(proxy_mw_contenttype_parse(j, "ct@file", &cfg, err, sizeof(err)),
                         cases[i].rc);
        if (!cases[i].rc) {
            assert_int_equal(proxy_mw_contenttype_enabled(cfg), cases[i].enabled);
            proxy_mw_contenttype_free(cfg);
        } else {
            assert_non_null(strstr(err, "autoDetect"));
        }
        json_decref(j);
    }
}

#define B(s) s, sizeof(s) - 1

static void test_sniff_table(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t len;
        const char *type;
    } cases[] = {
        {B("<!DOCTYPE html><html>"), "text/html; charset=utf-8"},
        {B(" \t\r\n<HtMl>"), "text/html; charset=utf-8"},
        {B("<a href=x>"), "text/html; charset=utf-8"},
        {B("<abbr>"), "text/plain; charset=utf-8"}, /* <A must end the tag */
        {B("<html"), "text/plain; charset=utf-8"},  /* nothing after the tag name */
        {B("<!-- c -->"), "text/html; charset=utf-8"},
        {B("<p>"), "text/html; charset=utf-8"},
        {B("\n<?xml version=\"1.0\"?>"), "text/xml; charset=utf-8"},
        {B("%PDF-1.7"), "application/pdf"},
        {B(" %PDF-1.7"), "text/plain; charset=utf-8"}, /* only at the start */
        {B("%!PS-Adobe-3.0"), "application/postscript"},
        {B("\xFE\xFF\x00h"), "text/plain; charset=utf-16be"},
        {B("\xFF\xFE"
           "h\x00"),
         "text/plain; charset=utf-16le"},
        {B("\xEF\xBB\xBFhello"), "text/plain; charset=utf-8"},
        {B("\x00\x00\x01\x00\x01"), "image/x-icon"},
        {B("BMxx"), "image/bmp"},
        {B("GIF89a..."), "image/gif"},
        {B("RIFF\x10\x00\x00\x00WEBPVP8 "), "image/webp"},
        {B("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png"},
        {B("\xFF\xD8\xFF\xE0"), "image/jpeg"},
        {B("FORM\0\0\0\0AIFF"), "audio/aiff"},
        {B("ID3\x04"), "audio/mpeg"},
        {B("OggS\x00\x02"), "application/ogg"},
        {B("MThd\x00\x00\x00\x06\x00\x01"), "audio/midi"},
        {B("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wave"},
        {B("RIFF\x24\x00\x00\x00"
           "AVI LIST"),
         "video/avi"},
        {B("\x00\x00\x00\x18"
           "ftypmp42\x00\x00\x00\x00isommp42"),
         "video/mp4"},
        {B("\x00\x00\x00\x14"
           "ftypqt  \x00\x00\x00\x00qt  "),
         "application/octet-stream"},
        {B("\x1A\x45\xDF\xA3\x01"), "video/webm"},
        {B("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0LP"),
         "application/vnd.ms-fontobject"},
        {B("\x00\x01\x00\x00\x00\x10"), "font/ttf"},
        {B("wOF2\x00\x01"), "font/woff2"},
        {B("\x1F\x8B\x08\x00"), "application/x-gzip"},
        {B("PK\x03\x04\x14\x00"), "application/zip"},
        {B("Rar!\x1A\x07\x01\x00"), "application/x-rar-compressed"},
        {B("\x00"
           "asm\x01\x00\x00\x00"),
         "application/wasm"},
        {B("{\"json\": true}\n"), "text/plain; charset=utf-8"},
        {B("text then \x01 binary"), "application/octet-stream"},
        {B("\x1B[0m escape"), "text/plain; charset=utf-8"}, /* ESC (0x1B) is text */
        {B(""), "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = proxy_mw_sniff((const unsigned char *)cases[i].data, cases[i].len);
        if (strcmp(got, cases[i].type) != 0)
            fail_msg("case %zu (\"%.12s\"): %s, want %s", i, cases[i].data, got, cases[i].type);
    }
    /* only the first 512 bytes are read: a binary byte after them does not count */
    unsigned char big[600];
    memset(big, 'a', sizeof(big));
    big[550] = 0x01;
    assert_string_equal(proxy_mw_sniff(big, sizeof(big)), "text/plain; charset=utf-8");
    big[500] = 0x01;
    assert_string_equal(proxy_mw_sniff(big, sizeof(big)), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_sniff_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
