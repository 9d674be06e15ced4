//! A list query narrowed by optional filters: `SELECT … WHERE 1 = 1 AND …`, each filter that is
//! set adding one condition. Invariant: every value is a bound parameter, lists of ids included,
//! so nothing a user typed is ever part of the SQL text.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};

pub struct Filtered {
    sql: String,
    args: Vec<Value>,
}

impl Filtered {
    /// `select` is the query up to, without, its WHERE.
    pub fn new(select: &str) -> Filtered {
        Filtered { sql: format!("{select} WHERE 1 = 1"), args: Vec::new() }
    }

    /// `AND column = ?` when `value` is set.
    pub fn eq(&mut self, column: &str, value: Option<impl Into<Value>>) -> &mut Filtered {
        if let Some(v) = value {
            self.args.push(v.into());
            self.sql.push_str(&format!(" AND {column} = ?{}", self.args.len()));
        }
        self
    }

    /// `AND column IN (…)` when `ids` is set; an empty list matches nothing.
    pub fn within(&mut self, column: &str, ids: Option<&[i64]>) -> &mut Filtered {
        if let Some(ids) = ids {
            let marks: Vec<String> = ids
                .iter()
                .map(|&id| {
                    self.args.push(id.into());
                    format!("?{}", self.args.len())
                })
                .collect();
            self.sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
        }
        self
    }

    /// A fixed condition, without parameters.
    pub fn and(&mut self, condition: &str) -> &mut Filtered {
        self.sql.push_str(&format!(" AND {condition}"));
        self
    }

    /// The rows, in `order_by` order.
    pub fn rows<T>(
        &self,
        conn: &Connection,
        order_by: &str,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        conn.prepare(&format!("{} ORDER BY {order_by}", self.sql))?
            .query_map(rusqlite::params_from_iter(&self.args), row)?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, year INTEGER, name TEXT);
             INSERT INTO t VALUES (1, 2025, 'a'), (2, 2026, 'b'), (3, 2026, 'c'), (4, 2026, 'x'' OR 1 = 1');",
        )
        .unwrap();
        conn
    }

    fn ids(f: &Filtered, conn: &Connection) -> Vec<i64> {
        f.rows(conn, "id", |r| r.get(0)).unwrap()
    }

    #[test]
    fn only_the_filters_that_are_set_narrow_the_list() {
        let conn = db();
        let mut f = Filtered::new("SELECT id FROM t");
        f.eq("year", None::<i64>);
        assert_eq!(ids(&f, &conn), [1, 2, 3, 4]);
        f.eq("year", Some(2026)).within("id", Some(&[1, 3, 4]));
        assert_eq!(ids(&f, &conn), [3, 4]);
        f.and("name <> 'c'");
        assert_eq!(ids(&f, &conn), [4]);
    }

    #[test]
    fn an_empty_id_list_matches_nothing_and_a_quote_in_a_value_is_only_a_value() {
        let conn = db();
        assert!(ids(Filtered::new("SELECT id FROM t").within("id", Some(&[])), &conn).is_empty());
        assert_eq!(ids(Filtered::new("SELECT id FROM t").eq("name", Some("x' OR 1 = 1".to_string())), &conn), [4]);
        assert!(ids(Filtered::new("SELECT id FROM t").eq("name", Some("' OR 1 = 1 --".to_string())), &conn).is_empty());
    }
}
