//! The worker view in memory: every worker, ordered as `GET /v1/workers` lists them, for
//! every capability and status filter, as of one indexed block. The database stays the
//! source of truth; the view is built from it at connect and after a rollback, and moved
//! forward after each committed batch with exactly the rows that batch saved. Readers take
//! an `Arc` of the current view and never see it change, so an answer never mixes two
//! blocks and never touches the database.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use super::read::{Page, WorkerFilter};
use crate::model::{Worker, WorkerStatus};

/// The block a view (or an answer) reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewBlock {
    /// Its number.
    pub number: u64,
    /// Its hash, `0x` and 64 hex digits.
    pub hash: String,
}

/// Which workers a list holds: all, or those with a capability, and/or a status.
type ListKey = (Option<String>, Option<WorkerStatus>);

/// Workers in list order: best score first, then by address.
type List = Arc<Vec<Arc<Worker>>>;

/// The sort key of list order.
fn key(w: &Worker) -> (Reverse<i64>, &str) {
    (Reverse(w.score_ppm), w.address.as_str())
}

/// The lists a worker appears in.
fn keys_of(w: &Worker) -> Vec<ListKey> {
    let mut keys = vec![(None, None), (None, Some(w.status))];
    for c in &w.capabilities {
        keys.push((Some(c.clone()), None));
        keys.push((Some(c.clone()), Some(w.status)));
    }
    keys
}

/// Every worker as of one block.
#[derive(Debug, Default)]
pub struct WorkerView {
    /// The block; `None` before any block is indexed.
    pub block: Option<ViewBlock>,
    /// Bumped by every change of the view in this process; a cache keyed by it is never
    /// stale.
    pub generation: u64,
    by_address: HashMap<String, Arc<Worker>>,
    lists: HashMap<ListKey, List>,
}

impl WorkerView {
    /// A view of `workers` at `block`.
    pub fn build(block: Option<ViewBlock>, generation: u64, workers: Vec<Worker>) -> Self {
        let mut by_address = HashMap::with_capacity(workers.len());
        let mut lists: HashMap<ListKey, Vec<Arc<Worker>>> = HashMap::new();
        for w in workers {
            let w = Arc::new(w);
            for k in keys_of(&w) {
                lists.entry(k).or_default().push(w.clone());
            }
            by_address.insert(w.address.clone(), w);
        }
        let lists = lists
            .into_iter()
            .map(|(k, mut list)| {
                list.sort_by(|a, b| key(a).cmp(&key(b)));
                (k, Arc::new(list))
            })
            .collect();
        Self {
            block,
            generation,
            by_address,
            lists,
        }
    }

    /// The view after a batch at `block` saved `changed` (each worker's new row). Lists no
    /// changed worker was or is in are shared with `self`.
    pub fn advance(&self, block: Option<ViewBlock>, changed: Vec<Worker>) -> Self {
        let mut by_address = self.by_address.clone();
        let mut touched: HashMap<ListKey, Vec<Arc<Worker>>> = HashMap::new();
        let mut gone = BTreeSet::new();
        for w in changed {
            if let Some(old) = by_address.get(&w.address) {
                for k in keys_of(old) {
                    touched.entry(k).or_default();
                }
            }
            gone.insert(w.address.clone());
            let w = Arc::new(w);
            for k in keys_of(&w) {
                touched.entry(k).or_default().push(w.clone());
            }
            by_address.insert(w.address.clone(), w);
        }
        let mut lists = self.lists.clone();
        for (k, mut added) in touched {
            let mut list: Vec<Arc<Worker>> = match lists.get(&k) {
                Some(old) => old
                    .iter()
                    .filter(|w| !gone.contains(&w.address))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            added.sort_by(|a, b| key(a).cmp(&key(b)));
            list = merge(list, added);
            if list.is_empty() {
                lists.remove(&k);
            } else {
                lists.insert(k, Arc::new(list));
            }
        }
        Self {
            block,
            generation: self.generation + 1,
            by_address,
            lists,
        }
    }

    /// How many workers the view holds.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// A page of `GET /v1/workers`: the same rows, order and cursor as the database query
    /// ([`super::Store::workers`]). A binary search to the cursor, then at most `limit + 1`
    /// rows; with `min_score` the walk stops at the first lower score.
    pub fn page(&self, f: &WorkerFilter) -> Page<Worker> {
        let empty = Vec::new();
        let list = self
            .lists
            .get(&(f.capability.clone(), f.status))
            .map_or(&empty, |l| l.as_ref());
        let start = match &f.after {
            Some((score, address)) => {
                let after = (Reverse(*score), address.as_str());
                list.partition_point(|w| key(w) <= after)
            }
            None => 0,
        };
        let min = f.min_score_ppm.unwrap_or(i64::MIN);
        let items: Vec<Worker> = list[start..]
            .iter()
            .take_while(|w| w.score_ppm >= min)
            .take(f.limit as usize + 1)
            .map(|w| Worker::clone(w))
            .collect();
        Page::of_workers(items, f.limit)
    }
}

/// Merges two lists, each in list order, into one.
fn merge(a: Vec<Arc<Worker>>, b: Vec<Arc<Worker>>) -> Vec<Arc<Worker>> {
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => key(x) <= key(y),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
    out
}

/// The current view, swapped whole. Readers clone the `Arc` under a read lock held for
/// nanoseconds; the store's writes replace it after their transaction commits.
#[derive(Debug, Default)]
pub(crate) struct ViewCell {
    current: RwLock<Arc<WorkerView>>,
    /// Serializes "write the database, then swap the view", so views advance in commit
    /// order.
    pub(crate) writer: tokio::sync::Mutex<()>,
}

impl ViewCell {
    pub(crate) fn get(&self) -> Arc<WorkerView> {
        self.current.read().expect("view lock").clone()
    }

    pub(crate) fn set(&self, view: WorkerView) {
        *self.current.write().expect("view lock") = Arc::new(view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(n: u64, score_ppm: i64, caps: &[&str], status: WorkerStatus) -> Worker {
        Worker {
            address: format!("{n:#066x}"),
            score_ppm,
            status,
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            ..Worker::default()
        }
    }

    fn filter(capability: Option<&str>, min: Option<i64>, limit: u32) -> WorkerFilter {
        WorkerFilter {
            capability: capability.map(str::to_owned),
            min_score_ppm: min,
            status: None,
            after: None,
            limit,
        }
    }

    fn addresses(page: &Page<Worker>) -> Vec<String> {
        page.items
            .iter()
            .map(|w| w.address[62..].to_owned())
            .collect()
    }

    #[test]
    fn pages_walk_the_list_in_order_with_cursors() {
        let view = WorkerView::build(
            None,
            0,
            vec![
                worker(1, 500_000, &["wasm"], WorkerStatus::Active),
                worker(2, 900_000, &["wasm", "gpu"], WorkerStatus::Active),
                worker(3, 500_000, &["gpu"], WorkerStatus::Exiting),
                worker(4, 100_000, &["wasm"], WorkerStatus::Active),
            ],
        );
        let all = view.page(&filter(None, None, 2));
        assert_eq!(addresses(&all), ["0002", "0001"]);
        let (score, addr) = all.next.as_ref().unwrap().split_once('_').unwrap();
        let mut f = filter(None, None, 2);
        f.after = Some((score.parse().unwrap(), addr.to_owned()));
        let rest = view.page(&f);
        assert_eq!(addresses(&rest), ["0003", "0004"]);
        assert_eq!(rest.next, None);
        assert_eq!(
            addresses(&view.page(&filter(Some("wasm"), Some(500_000), 10))),
            ["0002", "0001"]
        );
        let mut exiting = filter(None, None, 10);
        exiting.status = Some(WorkerStatus::Exiting);
        assert_eq!(addresses(&view.page(&exiting)), ["0003"]);
        assert!(view.page(&filter(Some("fpga"), None, 10)).items.is_empty());
    }

    #[test]
    fn advancing_moves_changed_workers_and_keeps_the_rest() {
        let before = WorkerView::build(
            None,
            7,
            vec![
                worker(1, 500_000, &["wasm"], WorkerStatus::Active),
                worker(2, 900_000, &["wasm", "gpu"], WorkerStatus::Active),
                worker(3, 300_000, &["cpu"], WorkerStatus::Active),
            ],
        );
        // Worker 2 drops gpu and falls below 1; worker 5 appears.
        let after = before.advance(
            Some(ViewBlock {
                number: 9,
                hash: "0x9".into(),
            }),
            vec![
                worker(2, 200_000, &["wasm"], WorkerStatus::Active),
                worker(5, 600_000, &["gpu"], WorkerStatus::Active),
            ],
        );
        assert_eq!(after.generation, 8);
        assert_eq!(after.block.as_ref().unwrap().number, 9);
        assert_eq!(
            addresses(&after.page(&filter(None, None, 10))),
            ["0005", "0001", "0003", "0002"]
        );
        assert_eq!(
            addresses(&after.page(&filter(Some("gpu"), None, 10))),
            ["0005"]
        );
        assert_eq!(
            addresses(&after.page(&filter(Some("wasm"), None, 10))),
            ["0001", "0002"]
        );
        // The untouched list is shared, and the old view is unchanged.
        assert!(Arc::ptr_eq(
            &before.lists[&(Some("cpu".into()), None)],
            &after.lists[&(Some("cpu".into()), None)]
        ));
        assert_eq!(
            addresses(&before.page(&filter(Some("gpu"), None, 10))),
            ["0002"]
        );
        // The same as building from scratch.
        let rebuilt = WorkerView::build(
            None,
            0,
            vec![
                worker(1, 500_000, &["wasm"], WorkerStatus::Active),
                worker(2, 200_000, &["wasm"], WorkerStatus::Active),
                worker(3, 300_000, &["cpu"], WorkerStatus::Active),
                worker(5, 600_000, &["gpu"], WorkerStatus::Active),
            ],
        );
        let mut keys: Vec<_> = after.lists.keys().cloned().collect();
        keys.sort();
        let mut rebuilt_keys: Vec<_> = rebuilt.lists.keys().cloned().collect();
        rebuilt_keys.sort();
        assert_eq!(keys, rebuilt_keys);
        for k in keys {
            assert_eq!(after.lists[&k], rebuilt.lists[&k], "{k:?}");
        }
    }
}
