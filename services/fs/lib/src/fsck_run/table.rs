//! The snapshot table in a stepped fsck: its check in bounded units
//! (`SHAPE_NODES` nodes each, every record decoded as the walk meets it),
//! then the trees to check taken from it one record at a time, so that
//! neither a unit nor the run's memory grows with the number of snapshots.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use block::Transactional;
use cowbtree::{TreeCheck, Visited};

use super::{FsckRun, Phase, LIVE, SHAPE_NODES};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::pins::decode_record;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// `SHAPE_NODES` nodes of the table's check; when it is done, the
    /// content store's check starts.
    pub(super) fn table_unit(
        &mut self,
        run: &mut FsckRun<C::Check>,
        walk: Option<TreeCheck>,
    ) -> Result<Phase, FsError> {
        let table = run.table;
        let mut walk = walk.unwrap_or_else(|| TreeCheck::new(&table));
        let mut bad: Vec<String> = Vec::new();
        let done = walk.step_visit(&mut self.dev, SHAPE_NODES, &mut |v| {
            if let Visited::Pair(key, value) = v {
                if let Err(e) = decode_record(key, value) {
                    bad.push(format!("snapshot table: {e}"));
                }
            }
        });
        for p in bad {
            run.report.problem(p);
        }
        if !done {
            return Ok(Phase::Table(Some(walk)));
        }
        for p in walk.finish().problems {
            run.report.problem(format!("snapshot table: {p}"));
        }
        run.content = Some(
            self.state
                .content
                .check_start(&mut self.dev, run.verify_data)?,
        );
        run.sequence = self.state.meta.sequence;
        Ok(Phase::Content)
    }

    /// The next tree to check: the snapshot named after the last one (a
    /// record read afresh from the fixed table), the live tree after the
    /// last snapshot, the end after the live tree. A record that does not
    /// decode was reported by the table's check and is passed over; a
    /// table that cannot be read further is reported, and the live tree
    /// comes next.
    pub(super) fn next_tree_unit(&mut self, run: &mut FsckRun<C::Check>) -> Result<Phase, FsError> {
        if run.on_live {
            return Ok(Phase::Done);
        }
        let table = run.table;
        let next = match self.table_page(&table, run.snap_after.as_deref(), 1) {
            Ok(page) => page.into_iter().next(),
            Err(e) => {
                run.report
                    .problem(format!("snapshot table: read past the last snapshot: {e}"));
                None
            }
        };
        let Some((key, value)) = next else {
            run.on_live = true;
            run.current = (String::from(LIVE), run.live);
            return Ok(Phase::Shape(None));
        };
        let record = decode_record(&key, &value);
        run.snap_after = Some(key);
        Ok(match record {
            Ok((name, rec)) => {
                run.current = (format!("snapshot {name}"), rec.root);
                Phase::Shape(None)
            }
            Err(_) => Phase::NextTree,
        })
    }
}
