import PostgresNIO

/// The directory's tables in PostgreSQL, created and migrated by the nodes themselves (under an
/// advisory lock, so that nodes starting together do not race).
///
/// - `agents_nodes`: one row per live node, with its generation (from a sequence, so a node that
///   joins again always gets a higher one), the process instance that wrote it, and its lease. A node renews its lease while it lives;
///   any node deletes those whose lease has expired, and what they held goes with them (`ON DELETE
///   CASCADE`).
/// - `agents_node_types`: the agent types each node's workers serve.
/// - `agents_subscriptions`: the cluster's subscriptions (ids unique across the cluster).
/// - `agents_placements`: one owner node per agent instance, decided by the primary key; an owner
///   writes only while its generation is current (fencing).
///
/// Every change (not lease renewals) is announced with `pg_notify` on the schema's channel, as
/// JSON `{"table":…, "op":…, "row":{…}}`.
struct DirectorySchema {
  static let version = 1
  /// A PostgreSQL schema name (checked): lower-case letters, digits and `_`.
  let schema: String

  /// The notification channel of this schema's directory.
  var channel: String { "agents_directory_\(schema)" }

  func table(_ name: String) -> String { "\(schema).\(name)" }

  /// The statements that create (or bring up to date) the directory, in order.
  var statements: [String] {
    [
      "CREATE SCHEMA IF NOT EXISTS \(schema)",
      "CREATE TABLE IF NOT EXISTS \(table("agents_cluster_meta")) (key text PRIMARY KEY, value text NOT NULL)",
      "CREATE SEQUENCE IF NOT EXISTS \(table("agents_node_generation"))",
      """
      CREATE TABLE IF NOT EXISTS \(table("agents_nodes")) (
        name text PRIMARY KEY,
        address text NOT NULL,
        generation bigint NOT NULL,
        instance text NOT NULL,
        lease_expires_at timestamptz NOT NULL,
        joined_at timestamptz NOT NULL DEFAULT now()
      )
      """,
      """
      CREATE TABLE IF NOT EXISTS \(table("agents_node_types")) (
        node text NOT NULL REFERENCES \(table("agents_nodes")) (name) ON DELETE CASCADE,
        agent_type text NOT NULL,
        PRIMARY KEY (node, agent_type)
      )
      """,
      """
      CREATE TABLE IF NOT EXISTS \(table("agents_subscriptions")) (
        id text PRIMARY KEY,
        node text NOT NULL REFERENCES \(table("agents_nodes")) (name) ON DELETE CASCADE,
        kind text NOT NULL,
        topic text NOT NULL,
        agent_type text NOT NULL
      )
      """,
      """
      CREATE TABLE IF NOT EXISTS \(table("agents_placements")) (
        agent_type text NOT NULL,
        agent_key text NOT NULL,
        node text NOT NULL REFERENCES \(table("agents_nodes")) (name) ON DELETE CASCADE,
        generation bigint NOT NULL,
        placed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (agent_type, agent_key)
      )
      """,
      "CREATE INDEX IF NOT EXISTS agents_placements_node ON \(table("agents_placements")) (node)",
      """
      CREATE OR REPLACE FUNCTION \(table("agents_directory_notify"))() RETURNS trigger AS $$
      BEGIN
        PERFORM pg_notify('\(channel)', jsonb_build_object(
          'table', TG_TABLE_NAME, 'op', TG_OP,
          'row', to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END))::text);
        RETURN NULL;
      END
      $$ LANGUAGE plpgsql
      """,
      // Lease renewals (UPDATE of lease_expires_at alone) are not announced.
      """
      CREATE OR REPLACE TRIGGER agents_nodes_notify AFTER INSERT OR DELETE OR UPDATE OF generation, address
      ON \(table("agents_nodes")) FOR EACH ROW EXECUTE FUNCTION \(table("agents_directory_notify"))()
      """,
      """
      CREATE OR REPLACE TRIGGER agents_node_types_notify AFTER INSERT OR DELETE
      ON \(table("agents_node_types")) FOR EACH ROW EXECUTE FUNCTION \(table("agents_directory_notify"))()
      """,
      """
      CREATE OR REPLACE TRIGGER agents_subscriptions_notify AFTER INSERT OR DELETE OR UPDATE
      ON \(table("agents_subscriptions")) FOR EACH ROW EXECUTE FUNCTION \(table("agents_directory_notify"))()
      """,
      """
      CREATE OR REPLACE TRIGGER agents_placements_notify AFTER INSERT OR DELETE
      ON \(table("agents_placements")) FOR EACH ROW EXECUTE FUNCTION \(table("agents_directory_notify"))()
      """,
      """
      INSERT INTO \(table("agents_cluster_meta")) (key, value) VALUES ('schema_version', '\(Self.version)')
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
      """,
    ]
  }
}
