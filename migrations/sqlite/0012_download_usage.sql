-- Download quotas: bytes and files each principal downloaded, per hour (hours
-- since the Unix epoch). A rolling day is the current hour and the 23 before;
-- older rows are pruned as principals download again. Shared by every replica,
-- so N replicas do not give N times the quota.

CREATE TABLE download_usage (
    principal TEXT NOT NULL,
    hour BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    files BIGINT NOT NULL,
    PRIMARY KEY (principal, hour)
);
