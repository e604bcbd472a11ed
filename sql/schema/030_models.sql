-- 030_models.sql - models as first-class entries (issue 29, the Go
-- gateway's /api/v1/admin/models): a public name (what clients send), a
-- display name, enabled, and the backends that serve it, each with the
-- upstream model name on that backend, a weight and a region. A model
-- with entries is served by those backends only, under their names; a
-- model without entries is served as before (backends' model globs and
-- mappings). A change bumps backend_gen like a backend's.

CREATE TABLE IF NOT EXISTS models (
  id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name          VARCHAR(255) NOT NULL,             -- public name, exact
  display_name  VARCHAR(255) NOT NULL DEFAULT '',
  enabled       TINYINT(1) NOT NULL DEFAULT 1,
  created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_models_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS model_backends (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  model_id    INT UNSIGNED NOT NULL,
  backend_id  INT UNSIGNED NOT NULL,
  model_name  VARCHAR(255) NOT NULL DEFAULT '',      -- upstream name, '' = the public one
  weight      INT UNSIGNED NOT NULL DEFAULT 1,
  region      VARCHAR(64) NOT NULL DEFAULT '',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_model_backends (model_id, backend_id),
  KEY ix_model_backends_backend (backend_id),
  CONSTRAINT fk_model_backends_model FOREIGN KEY (model_id) REFERENCES models (id)
    ON DELETE CASCADE,
  CONSTRAINT fk_model_backends_backend FOREIGN KEY (backend_id) REFERENCES backends (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
