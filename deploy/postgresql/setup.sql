-- The hub's database: one role owning one database, password authentication over TLS.
-- Run as the postgres superuser:  psql -f setup.sql -v password="'...'"
CREATE ROLE sanji LOGIN PASSWORD :password;
CREATE DATABASE sanji OWNER sanji ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0;
\connect sanji
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL ON SCHEMA public TO sanji;
