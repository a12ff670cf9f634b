/* Umami v3.1's database schema (umami-software/umami prisma/schema.prisma, PostgreSQL
 * provider, with migration 15_add_share: share links live in `share`, website.share_id is
 * gone) as hearth's migrations, service "analytics". Every statement is
 * IF NOT EXISTS, so on a database Umami created (it has `_prisma_migrations`) the
 * migration records itself and changes nothing: hearth then reads and writes Umami's own
 * tables as they are.
 *
 * SQLite holds the same logical schema, same table, column and index names, with these
 * column representations (analytics_query.c and analytics_rollup.c rely on them):
 *   uuid                 TEXT, lower-case dashed ("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
 *   timestamptz          INTEGER, milliseconds since 1970-01-01 UTC (created_at,
 *                        updated_at, deleted_at, reset_at, date_value)
 *   varchar(n) / char(n) TEXT (lengths enforced by the writer, as Umami's code does)
 *   integer              INTEGER
 *   decimal(19,4)        REAL
 *   jsonb                TEXT (JSON)
 * and the same indexes except those that repeat another (see DUP below).
 * On PostgreSQL the types are Umami's own: uuid, timestamptz(6), varchar(n), char(2),
 * integer, decimal(19,4), jsonb. Writers pass timestamps to PostgreSQL as ISO 8601 text
 * in UTC ("2026-05-17T12:34:56.123Z"). Neither backend has foreign keys (Umami's
 * relationMode = "prisma"): events may point at sessions that were never written. */
#include "analytics/analytics_int.h"

/* Columns shared by both dialects are spelled once; T_ID/T_TS/T_NUM/T_JSON/T_NOW differ.
 * DUP(sql) wraps Umami's indexes that only repeat another one (a unique index on the
 * primary key, a website_id index that prefixes (website_id, created_at)): PostgreSQL
 * gets them, so a database hearth creates is Umami's exactly; SQLite leaves them out,
 * as each costs a B-tree insert per row for no query. ROLL(sql) wraps the indexes that
 * only serve dashboard scans over raw rows, which hearth's rollup tables answer instead
 * (analytics_rollup*.c): the covering (website_id, created_at, column) indexes of
 * website_event and session, and website_event's visit and (website_id, session_id|
 * visit_id, created_at) indexes. PostgreSQL keeps them (Umami's schema, and Umami itself
 * may share the database); SQLite leaves them out, which takes website_event from 13
 * B-tree inserts per event to 4: the event_id key (time-ordered ids append, see
 * analytics_ingest.c), created_at (backfill, retention), (website_id, created_at) (every
 * raw query, the events list) and session_id (sessions list, retention's orphan check). */
// clang-format off
#define UMAMI_SCHEMA(T_ID, T_TS, T_NUM, T_JSON, T_NOW, DUP, ROLL)                                  \
    "CREATE TABLE IF NOT EXISTS \"user\" ("                                                        \
    " user_id " T_ID " NOT NULL PRIMARY KEY,"                                                      \
    " username VARCHAR(255) NOT NULL,"                                                             \
    " password VARCHAR(60) NOT NULL,"                                                              \
    " role VARCHAR(50) NOT NULL,"                                                                  \
    " logo_url VARCHAR(2183),"                                                                     \
    " display_name VARCHAR(255),"                                                                  \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ","                                                                        \
    " deleted_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS user_user_id_key ON \"user\"(user_id);")                \
    "CREATE UNIQUE INDEX IF NOT EXISTS user_username_key ON \"user\"(username);"                   \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS session ("                                                         \
    " session_id " T_ID " NOT NULL PRIMARY KEY,"                                                   \
    " website_id " T_ID " NOT NULL,"                                                               \
    " browser VARCHAR(20), os VARCHAR(20), device VARCHAR(20), screen VARCHAR(11),"                \
    " language VARCHAR(35), country CHAR(2), region VARCHAR(20), city VARCHAR(50),"                \
    " distinct_id VARCHAR(50),"                                                                    \
    " created_at " T_TS " DEFAULT " T_NOW ");"                                                     \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS session_session_id_key ON session(session_id);")        \
    "CREATE INDEX IF NOT EXISTS session_created_at_idx ON session(created_at);"                    \
    DUP("CREATE INDEX IF NOT EXISTS session_website_id_idx ON session(website_id);")               \
    "CREATE INDEX IF NOT EXISTS session_website_id_created_at_idx"                                 \
    " ON session(website_id, created_at);"                                                         \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_browser_idx"                    \
    " ON session(website_id, created_at, browser);")                                               \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_os_idx"                         \
    " ON session(website_id, created_at, os);")                                                    \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_device_idx"                     \
    " ON session(website_id, created_at, device);")                                                \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_screen_idx"                     \
    " ON session(website_id, created_at, screen);")                                                \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_language_idx"                   \
    " ON session(website_id, created_at, language);")                                              \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_country_idx"                    \
    " ON session(website_id, created_at, country);")                                               \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_region_idx"                     \
    " ON session(website_id, created_at, region);")                                                \
    ROLL("CREATE INDEX IF NOT EXISTS session_website_id_created_at_city_idx"                       \
    " ON session(website_id, created_at, city);")                                                  \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS website ("                                                         \
    " website_id " T_ID " NOT NULL PRIMARY KEY,"                                                   \
    " name VARCHAR(100) NOT NULL,"                                                                 \
    " domain VARCHAR(500),"                                                                        \
    " reset_at " T_TS ","                                                                          \
    " user_id " T_ID ", team_id " T_ID ", created_by " T_ID ","                                    \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ","                                                                        \
    " deleted_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS website_website_id_key ON website(website_id);")        \
    "CREATE INDEX IF NOT EXISTS website_user_id_idx ON website(user_id);"                          \
    "CREATE INDEX IF NOT EXISTS website_team_id_idx ON website(team_id);"                          \
    "CREATE INDEX IF NOT EXISTS website_created_at_idx ON website(created_at);"                    \
    "CREATE INDEX IF NOT EXISTS website_created_by_idx ON website(created_by);"                    \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS website_event ("                                                   \
    " event_id " T_ID " NOT NULL PRIMARY KEY,"                                                     \
    " website_id " T_ID " NOT NULL,"                                                               \
    " session_id " T_ID " NOT NULL,"                                                               \
    " visit_id " T_ID " NOT NULL,"                                                                 \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " url_path VARCHAR(500) NOT NULL,"                                                             \
    " url_query VARCHAR(500),"                                                                     \
    " utm_source VARCHAR(255), utm_medium VARCHAR(255), utm_campaign VARCHAR(255),"                \
    " utm_content VARCHAR(255), utm_term VARCHAR(255),"                                            \
    " referrer_path VARCHAR(500), referrer_query VARCHAR(500), referrer_domain VARCHAR(500),"      \
    " page_title VARCHAR(500),"                                                                    \
    " gclid VARCHAR(255), fbclid VARCHAR(255), msclkid VARCHAR(255), ttclid VARCHAR(255),"         \
    " li_fat_id VARCHAR(255), twclid VARCHAR(255),"                                                \
    " event_type INTEGER NOT NULL DEFAULT 1,"                                                      \
    " event_name VARCHAR(50),"                                                                     \
    " tag VARCHAR(50),"                                                                            \
    " hostname VARCHAR(100));"                                                                     \
    "CREATE INDEX IF NOT EXISTS website_event_created_at_idx ON website_event(created_at);"        \
    "CREATE INDEX IF NOT EXISTS website_event_session_id_idx ON website_event(session_id);"        \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_visit_id_idx ON website_event(visit_id);")      \
    DUP("CREATE INDEX IF NOT EXISTS website_event_website_id_idx ON website_event(website_id);")   \
    "CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_idx"                           \
    " ON website_event(website_id, created_at);"                                                   \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_url_path_idx"             \
    " ON website_event(website_id, created_at, url_path);")                                        \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_url_query_idx"            \
    " ON website_event(website_id, created_at, url_query);")                                       \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_referrer_domain_idx"      \
    " ON website_event(website_id, created_at, referrer_domain);")                                 \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_page_title_idx"           \
    " ON website_event(website_id, created_at, page_title);")                                      \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_event_name_idx"           \
    " ON website_event(website_id, created_at, event_name);")                                      \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_tag_idx"                  \
    " ON website_event(website_id, created_at, tag);")                                             \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_session_id_created_at_idx"           \
    " ON website_event(website_id, session_id, created_at);")                                      \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_visit_id_created_at_idx"             \
    " ON website_event(website_id, visit_id, created_at);")                                        \
    ROLL("CREATE INDEX IF NOT EXISTS website_event_website_id_created_at_hostname_idx"             \
    " ON website_event(website_id, created_at, hostname);")                                        \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS event_data ("                                                      \
    " event_data_id " T_ID " NOT NULL PRIMARY KEY,"                                                \
    " website_id " T_ID " NOT NULL,"                                                               \
    " website_event_id " T_ID " NOT NULL,"                                                         \
    " data_key VARCHAR(500) NOT NULL,"                                                             \
    " string_value VARCHAR(500),"                                                                  \
    " number_value " T_NUM ","                                                                     \
    " date_value " T_TS ","                                                                        \
    " data_type INTEGER NOT NULL,"                                                                 \
    " created_at " T_TS " DEFAULT " T_NOW ");"                                                     \
    "CREATE INDEX IF NOT EXISTS event_data_created_at_idx ON event_data(created_at);"              \
    DUP("CREATE INDEX IF NOT EXISTS event_data_website_id_idx ON event_data(website_id);")         \
    "CREATE INDEX IF NOT EXISTS event_data_website_event_id_idx ON event_data(website_event_id);"  \
    "CREATE INDEX IF NOT EXISTS event_data_website_id_created_at_idx"                              \
    " ON event_data(website_id, created_at);"                                                      \
    "CREATE INDEX IF NOT EXISTS event_data_website_id_created_at_data_key_idx"                     \
    " ON event_data(website_id, created_at, data_key);"                                            \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS session_data ("                                                    \
    " session_data_id " T_ID " NOT NULL PRIMARY KEY,"                                              \
    " website_id " T_ID " NOT NULL,"                                                               \
    " session_id " T_ID " NOT NULL,"                                                               \
    " data_key VARCHAR(500) NOT NULL,"                                                             \
    " string_value VARCHAR(500),"                                                                  \
    " number_value " T_NUM ","                                                                     \
    " date_value " T_TS ","                                                                        \
    " data_type INTEGER NOT NULL,"                                                                 \
    " distinct_id VARCHAR(50),"                                                                    \
    " created_at " T_TS " DEFAULT " T_NOW ");"                                                     \
    "CREATE INDEX IF NOT EXISTS session_data_created_at_idx ON session_data(created_at);"          \
    DUP("CREATE INDEX IF NOT EXISTS session_data_website_id_idx ON session_data(website_id);")     \
    "CREATE INDEX IF NOT EXISTS session_data_session_id_idx ON session_data(session_id);"          \
    "CREATE INDEX IF NOT EXISTS session_data_session_id_created_at_idx"                            \
    " ON session_data(session_id, created_at);"                                                    \
    "CREATE INDEX IF NOT EXISTS session_data_website_id_created_at_data_key_idx"                   \
    " ON session_data(website_id, created_at, data_key);"                                          \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS team ("                                                            \
    " team_id " T_ID " NOT NULL PRIMARY KEY,"                                                      \
    " name VARCHAR(50) NOT NULL,"                                                                  \
    " access_code VARCHAR(50),"                                                                    \
    " logo_url VARCHAR(2183),"                                                                     \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ","                                                                        \
    " deleted_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS team_team_id_key ON team(team_id);")                    \
    "CREATE UNIQUE INDEX IF NOT EXISTS team_access_code_key ON team(access_code);"                 \
    "CREATE INDEX IF NOT EXISTS team_access_code_idx ON team(access_code);"                        \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS team_user ("                                                       \
    " team_user_id " T_ID " NOT NULL PRIMARY KEY,"                                                 \
    " team_id " T_ID " NOT NULL,"                                                                  \
    " user_id " T_ID " NOT NULL,"                                                                  \
    " role VARCHAR(50) NOT NULL,"                                                                  \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS team_user_team_user_id_key"                             \
        " ON team_user(team_user_id);")                                                            \
    "CREATE INDEX IF NOT EXISTS team_user_team_id_idx ON team_user(team_id);"                      \
    "CREATE INDEX IF NOT EXISTS team_user_user_id_idx ON team_user(user_id);"                      \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS report ("                                                          \
    " report_id " T_ID " NOT NULL PRIMARY KEY,"                                                    \
    " user_id " T_ID " NOT NULL,"                                                                  \
    " website_id " T_ID " NOT NULL,"                                                               \
    " type VARCHAR(50) NOT NULL,"                                                                  \
    " name VARCHAR(200) NOT NULL,"                                                                 \
    " description VARCHAR(500) NOT NULL,"                                                          \
    " parameters " T_JSON " NOT NULL,"                                                             \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS report_report_id_key ON report(report_id);")            \
    "CREATE INDEX IF NOT EXISTS report_user_id_idx ON report(user_id);"                            \
    "CREATE INDEX IF NOT EXISTS report_website_id_idx ON report(website_id);"                      \
    "CREATE INDEX IF NOT EXISTS report_type_idx ON report(type);"                                  \
    "CREATE INDEX IF NOT EXISTS report_name_idx ON report(name);"                                  \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS segment ("                                                         \
    " segment_id " T_ID " NOT NULL PRIMARY KEY,"                                                   \
    " website_id " T_ID " NOT NULL,"                                                               \
    " type VARCHAR(50) NOT NULL,"                                                                  \
    " name VARCHAR(200) NOT NULL,"                                                                 \
    " parameters " T_JSON " NOT NULL,"                                                             \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS segment_segment_id_key ON segment(segment_id);")        \
    "CREATE INDEX IF NOT EXISTS segment_website_id_idx ON segment(website_id);"                    \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS revenue ("                                                         \
    " revenue_id " T_ID " NOT NULL PRIMARY KEY,"                                                   \
    " website_id " T_ID " NOT NULL,"                                                               \
    " session_id " T_ID " NOT NULL,"                                                               \
    " event_id " T_ID " NOT NULL,"                                                                 \
    " event_name VARCHAR(50) NOT NULL,"                                                            \
    " currency VARCHAR(10) NOT NULL,"                                                              \
    " revenue " T_NUM ","                                                                          \
    " created_at " T_TS " DEFAULT " T_NOW ");"                                                     \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS revenue_revenue_id_key ON revenue(revenue_id);")        \
    DUP("CREATE INDEX IF NOT EXISTS revenue_website_id_idx ON revenue(website_id);")               \
    "CREATE INDEX IF NOT EXISTS revenue_session_id_idx ON revenue(session_id);"                    \
    "CREATE INDEX IF NOT EXISTS revenue_website_id_created_at_idx"                                 \
    " ON revenue(website_id, created_at);"                                                         \
    "CREATE INDEX IF NOT EXISTS revenue_website_id_session_id_created_at_idx"                      \
    " ON revenue(website_id, session_id, created_at);"                                             \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS share ("                                                           \
    " share_id " T_ID " NOT NULL PRIMARY KEY,"                                                     \
    " entity_id " T_ID " NOT NULL,"                                                                \
    " name VARCHAR(200) NOT NULL,"                                                                 \
    " share_type INTEGER NOT NULL,"                                                                \
    " slug VARCHAR(100) NOT NULL,"                                                                 \
    " parameters " T_JSON " NOT NULL,"                                                             \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ");"                                                                       \
    "CREATE UNIQUE INDEX IF NOT EXISTS share_slug_key ON share(slug);"                             \
    "CREATE INDEX IF NOT EXISTS share_entity_id_idx ON share(entity_id);"                          \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS link ("                                                            \
    " link_id " T_ID " NOT NULL PRIMARY KEY,"                                                      \
    " name VARCHAR(100) NOT NULL,"                                                                 \
    " url VARCHAR(500) NOT NULL,"                                                                  \
    " slug VARCHAR(100) NOT NULL,"                                                                 \
    " user_id " T_ID ", team_id " T_ID ","                                                         \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ","                                                                        \
    " deleted_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS link_link_id_key ON link(link_id);")                    \
    "CREATE UNIQUE INDEX IF NOT EXISTS link_slug_key ON link(slug);"                               \
    "CREATE INDEX IF NOT EXISTS link_slug_idx ON link(slug);"                                      \
    "CREATE INDEX IF NOT EXISTS link_user_id_idx ON link(user_id);"                                \
    "CREATE INDEX IF NOT EXISTS link_team_id_idx ON link(team_id);"                                \
    "CREATE INDEX IF NOT EXISTS link_created_at_idx ON link(created_at);"                          \
                                                                                                   \
    "CREATE TABLE IF NOT EXISTS pixel ("                                                           \
    " pixel_id " T_ID " NOT NULL PRIMARY KEY,"                                                     \
    " name VARCHAR(100) NOT NULL,"                                                                 \
    " slug VARCHAR(100) NOT NULL,"                                                                 \
    " user_id " T_ID ", team_id " T_ID ","                                                         \
    " created_at " T_TS " DEFAULT " T_NOW ","                                                      \
    " updated_at " T_TS ","                                                                        \
    " deleted_at " T_TS ");"                                                                       \
    DUP("CREATE UNIQUE INDEX IF NOT EXISTS pixel_pixel_id_key ON pixel(pixel_id);")                \
    "CREATE UNIQUE INDEX IF NOT EXISTS pixel_slug_key ON pixel(slug);"                             \
    "CREATE INDEX IF NOT EXISTS pixel_slug_idx ON pixel(slug);"                                    \
    "CREATE INDEX IF NOT EXISTS pixel_user_id_idx ON pixel(user_id);"                              \
    "CREATE INDEX IF NOT EXISTS pixel_team_id_idx ON pixel(team_id);"                              \
    "CREATE INDEX IF NOT EXISTS pixel_created_at_idx ON pixel(created_at);"
// clang-format on

/* SQLite's "now" in epoch milliseconds (unixepoch() needs 3.38; julianday works everywhere). */
#define SQLITE_NOW "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"

#define KEEP(sql) sql
#define SKIP(sql) ""

/* Migration 2 drops the ROLL indexes from SQLite databases migration 1 made before it
 * left them out; nothing changes on PostgreSQL. */
#define DROP_INDEX(name) "DROP INDEX IF EXISTS " #name ";"
#define ROLL_INDEXES                                                                               \
    DROP_INDEX(website_event_visit_id_idx)                                                         \
    DROP_INDEX(website_event_website_id_created_at_url_path_idx)                                   \
    DROP_INDEX(website_event_website_id_created_at_url_query_idx)                                  \
    DROP_INDEX(website_event_website_id_created_at_referrer_domain_idx)                            \
    DROP_INDEX(website_event_website_id_created_at_page_title_idx)                                 \
    DROP_INDEX(website_event_website_id_created_at_event_name_idx)                                 \
    DROP_INDEX(website_event_website_id_created_at_tag_idx)                                        \
    DROP_INDEX(website_event_website_id_session_id_created_at_idx)                                 \
    DROP_INDEX(website_event_website_id_visit_id_created_at_idx)                                   \
    DROP_INDEX(website_event_website_id_created_at_hostname_idx)                                   \
    DROP_INDEX(session_website_id_created_at_browser_idx)                                          \
    DROP_INDEX(session_website_id_created_at_os_idx)                                               \
    DROP_INDEX(session_website_id_created_at_device_idx)                                           \
    DROP_INDEX(session_website_id_created_at_screen_idx)                                           \
    DROP_INDEX(session_website_id_created_at_language_idx)                                         \
    DROP_INDEX(session_website_id_created_at_country_idx)                                          \
    DROP_INDEX(session_website_id_created_at_region_idx)                                           \
    DROP_INDEX(session_website_id_created_at_city_idx)

const hc_store_migration_t analytics_migrations[] = {
    {1, UMAMI_SCHEMA("TEXT", "INTEGER", "REAL", "TEXT", SQLITE_NOW, SKIP, SKIP),
     UMAMI_SCHEMA("UUID", "TIMESTAMPTZ(6)", "DECIMAL(19,4)", "JSONB", "CURRENT_TIMESTAMP", KEEP,
                  KEEP)},
    {2, ROLL_INDEXES, "SELECT 1"},
};

const size_t analytics_nmigrations = sizeof(analytics_migrations) / sizeof(analytics_migrations[0]);
