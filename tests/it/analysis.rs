//! The dependency analysis answers from word indexes (`tree::analysis::Analysis`);
//! these tests hold it to the rules read pair by pair, as the analysis first did
//! them: every earlier unit compared with the new one through its sets of words,
//! definitions and reach. Both must give every unit the same dependencies, on a
//! tree of the real tree's shape and on texts chosen for the corners (case,
//! quoting, non-ASCII words, catalog barriers, definitions added later).

use ores_sql::testing::workload::{Shape, entry_tree};
use ores_sql::tree::analysis::{Analysis, UnitKind, catalog_reads, defined_names, words};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The rules of `Analysis::add`, pair by pair.
#[derive(Default)]
struct Pairwise {
    kinds: Vec<UnitKind>,
    words: Vec<HashSet<String>>,
    defs: Vec<HashSet<String>>,
    reach: Vec<HashSet<String>>,
    tables: HashSet<String>,
    definers: HashMap<String, Vec<usize>>,
    barrier: Vec<bool>,
    catalog_names: HashSet<String>,
}

impl Pairwise {
    fn add(&mut self, sql: &str, kind: UnitKind) -> Vec<usize> {
        let j = self.words.len();
        let defs_j = defined_names(sql, false);
        self.tables.extend(defined_names(sql, true));
        for d in &defs_j {
            self.definers.entry(d.clone()).or_default().push(j);
        }
        self.kinds.push(kind);
        let words_j = words(sql);
        let reads = catalog_reads(
            sql,
            |w| self.catalog_names.contains(w),
            |r| self.tables.contains(r),
        );
        let barrier = reads.now;
        if reads.stored {
            self.catalog_names.extend(defs_j.iter().cloned());
        }
        self.barrier.push(barrier);
        self.words.push(words_j);
        self.defs.push(defs_j);
        let reach_j = match kind {
            UnitKind::Create => HashSet::new(),
            _ => self.reach_of(j),
        };
        self.reach.push(reach_j);
        (0..j).filter(|&i| self.ordered(i, j)).collect()
    }

    fn reach_of(&self, j: usize) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut names = self.words[j].clone();
        let mut queue: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for &c in self.definers.get(&name).into_iter().flatten() {
                if seen.insert(c) {
                    for w in &self.words[c] {
                        if names.insert(w.clone()) {
                            queue.push(w.clone());
                        }
                    }
                }
            }
        }
        names.retain(|n| self.tables.contains(n));
        names
    }

    fn ordered(&self, i: usize, j: usize) -> bool {
        if self.barrier[i] || self.barrier[j] {
            return true;
        }
        let mentions_defs = |a: usize, b: usize| !self.words[a].is_disjoint(&self.defs[b]);
        let mentions_reach = |a: usize, b: usize| !self.words[a].is_disjoint(&self.reach[b]);
        let overlap = |a: usize, b: usize| !self.reach[a].is_disjoint(&self.reach[b]);
        match (self.kinds[i], self.kinds[j]) {
            (UnitKind::Create, UnitKind::Create) => mentions_defs(j, i) || mentions_defs(i, j),
            (UnitKind::Populate, UnitKind::Populate) => overlap(i, j),
            (UnitKind::Create, UnitKind::Populate) => true,
            (UnitKind::Stream, UnitKind::Stream) => {
                let defines = |x: usize| !self.defs[x].is_empty();
                match (defines(i), defines(j)) {
                    (true, true) => mentions_defs(j, i) || mentions_defs(i, j),
                    (true, false) => mentions_defs(j, i) || mentions_reach(i, j),
                    (false, true) => mentions_defs(i, j) || mentions_reach(j, i),
                    (false, false) => overlap(i, j),
                }
            }
            _ => false,
        }
    }
}

/// Feeds the units to both and compares the dependencies of each; returns them, so a
/// caller can see the texts were not trivially apart.
fn same_dependencies(units: &[(String, UnitKind)]) -> Vec<Vec<usize>> {
    let (mut indexed, mut pairwise) = (Analysis::default(), Pairwise::default());
    let mut out = Vec::new();
    for (k, (sql, kind)) in units.iter().enumerate() {
        let a = indexed.add(sql, *kind);
        let b = pairwise.add(sql, *kind);
        assert_eq!(
            a, b,
            "unit {k} ({kind:?}) waits for different units:\n{sql}"
        );
        out.push(a);
    }
    out
}

fn total(deps: &[Vec<usize>]) -> usize {
    deps.iter().map(Vec::len).sum()
}

fn sql_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_indexed_analysis_orders_a_tree_of_the_real_shape_as_the_pairwise_rules_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    entry_tree(dir.path(), &Shape::upstream()).expect("generated tree");
    let files = sql_files(dir.path());
    let text = |p: &PathBuf| std::fs::read_to_string(p).expect("generated file");
    // As an entry tree's stream: every file a unit, in order.
    let stream: Vec<(String, UnitKind)> =
        files.iter().map(|p| (text(p), UnitKind::Stream)).collect();
    assert!(stream.len() > 800, "{} files", stream.len());
    let deps = same_dependencies(&stream);
    // About 3,000: a file waits for the few that define or fill what it uses.
    let n = total(&deps);
    assert!(n > 2_000, "only {n} dependencies: the tree was not read");
    // Its catalog reads are lookups of the tables they name, beside row-level
    // security turned on through EXECUTE in a statement of its own: none orders a
    // file with everything before it (45 did while a unit's reads were judged as a
    // whole, and the seed files waited behind the last of them).
    let barriers: Vec<&PathBuf> = (2..deps.len())
        .filter(|&k| deps[k].len() == k)
        .map(|k| &files[k])
        .collect();
    assert!(barriers.is_empty(), "barriers: {barriers:?}");
    // As a numeric tree: the create files, then the populate files.
    let (create, populate): (Vec<&PathBuf>, Vec<&PathBuf>) = files
        .iter()
        .partition(|p| p.components().any(|c| c.as_os_str() == "create"));
    let numeric: Vec<(String, UnitKind)> = create
        .iter()
        .map(|p| (text(p), UnitKind::Create))
        .chain(populate.iter().map(|p| (text(p), UnitKind::Populate)))
        .collect();
    let n = total(&same_dependencies(&numeric));
    assert!(n > 2_000, "only {n} dependencies in the numeric reading");
}

#[test]
fn the_indexed_analysis_keeps_the_pairwise_order_in_the_corners() {
    let stream = [
        "create table Accounts (id int);",
        "insert into accounts values (1);",
        // A quoted name keeps its case: only a mention as written reaches it.
        r#"create table "Mixed" (id int);"#,
        r#"insert into "Mixed" values (1); insert into mixed values (2);"#,
        // Non-ASCII letters belong to words; PostgreSQL folds only ASCII ones.
        "create table Ä_tbl (id int); create table ä_tbl (id int);",
        "insert into ä_tbl values (1);",
        // A function reaching a table through its body, called later.
        "create function bump() returns void language sql as $$ update accounts set id = id + 1 $$;",
        "select bump();",
        // A name defined after an earlier unit mentioned it.
        "select later_fn();",
        "create function later_fn() returns int language sql as $$ select 1 $$;",
        // SELECT INTO and a rename define tables.
        "select * into temp table copy_of from accounts;",
        "alter table copy_of rename to renamed_copy;",
        "insert into renamed_copy values (3);",
        // Two units that only fill, apart and overlapping.
        "insert into ä_tbl values (2);",
        "update accounts set id = 2;",
        // A catalog lookup of a named relation, then a sweep: a barrier.
        "do $$ begin if not exists (select 1 from pg_class where relname = 'accounts') then raise 'x'; end if; end $$;",
        "do $$ declare r record; begin for r in select tablename from pg_tables loop execute 'select 1'; end loop; end $$;",
        "create table after_sweep (id int);",
        "create function reads_catalog() returns bigint language sql as $$ select count(*) from pg_class $$;",
        "create table unrelated (id int);",
        "select reads_catalog();",
        // EXECUTE in one statement and a lookup of a named table in another: no
        // barrier. A sweep in a DO block beside a new table: a barrier, and the table
        // is only a table. A view over the catalog reads it whenever it is used.
        "create table secured (id int); do $$ begin execute format('alter table %I enable row level security', 'secured'); end $$; do $$ begin if not exists (select 1 from pg_class where relname = 'secured') then raise 'x'; end if; end $$;",
        "create table swept (id int); do $$ declare r record; begin for r in select tablename from pg_tables loop execute 'select 1'; end loop; end $$;",
        "insert into swept values (1);",
        "create view catalog_view as select relname from pg_class;",
        "select * from catalog_view;",
        "-- nothing but a comment naming accounts",
        "insert into unrelated values (1); -- and Accounts",
    ];
    let units: Vec<(String, UnitKind)> = stream
        .iter()
        .map(|s| (s.to_string(), UnitKind::Stream))
        .collect();
    assert!(total(&same_dependencies(&units)) > 40);
    let numeric = [
        ("create sequence ids;", UnitKind::Create),
        (
            "create table a (id int default nextval('ids'));",
            UnitKind::Create,
        ),
        (
            "create table b (id int default nextval('ids'));",
            UnitKind::Create,
        ),
        ("create view v as select * from a;", UnitKind::Create),
        ("insert into a default values;", UnitKind::Populate),
        ("insert into b default values;", UnitKind::Populate),
        ("select * from v;", UnitKind::Populate),
        ("select * into c from b;", UnitKind::Populate),
        ("insert into c select * from a;", UnitKind::Populate),
    ];
    let units: Vec<(String, UnitKind)> = numeric.iter().map(|(s, k)| (s.to_string(), *k)).collect();
    assert!(total(&same_dependencies(&units)) > 10);
}
