# An analyst's R session against `vru serve`: RPostgreSQL (Debian's
# r-cran-rpostgresql, libpq underneath) runs each SQL argument and writes
# its rows as CSV after a "--- result" line, for tests/server.rs to
# compare with `vru measures`. Connection details come from the PG*
# environment variables, as for psql.
suppressPackageStartupMessages(library(RPostgreSQL))
con <- dbConnect(PostgreSQL(), host = Sys.getenv("PGHOST"), port = as.integer(Sys.getenv("PGPORT")),
                 user = Sys.getenv("PGUSER"), password = Sys.getenv("PGPASSWORD"), dbname = "vru")
for (sql in commandArgs(trailingOnly = TRUE)) {
  rows <- dbGetQuery(con, sql)
  cat("--- result\n")
  write.csv(rows, stdout(), row.names = FALSE, na = "")
}
invisible(dbDisconnect(con))
