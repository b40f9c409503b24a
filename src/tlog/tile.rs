//! Tiles of the tree (C2SP `tlog-tiles`, height 8): which hashes a tile
//! holds, and its path (`<L>/<N>[.p/<W>]`, the index in zero-padded 3-digit
//! elements, all but the last starting with `x`).

use super::Node;

/// Hashes in a full tile.
pub const WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const HEIGHT: u8 = 8;

/// A tile: hash tiles at `level` 0..=7 (tree level `8 × level`), or an
/// entry bundle (`level` None); `width` hashes or entries from `index × 256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub level: Option<u8>,
    pub index: u64,
    pub width: u64,
}

impl Tile {
    /// The first stored subtree a hash tile holds; the others follow it on
    /// its level.
    pub fn first(&self) -> Node {
        Node::new(self.level.unwrap_or(0) * HEIGHT, self.index * WIDTH)
    }

    /// The leaves (0-based) an entry bundle holds.
    pub fn leaves(&self) -> std::ops::Range<u64> {
        self.index * WIDTH..self.index * WIDTH + self.width
    }

    /// Whether the tree of `size` leaves holds every hash (or entry) of this
    /// tile: the tile of this width at `size`, or at a smaller size the log
    /// had (a partial tile stays servable once its full tile exists).
    pub fn within(&self, size: u64) -> bool {
        let span = WIDTH.pow(u32::from(self.level.unwrap_or(0)));
        let hashes = size / span;
        self.index
            .checked_mul(WIDTH)
            .and_then(|first| first.checked_add(self.width))
            .is_some_and(|end| end <= hashes)
    }

    /// Whether the tile is full: it never changes, and may be cached for good.
    pub fn is_full(&self) -> bool {
        self.width == WIDTH
    }

    /// Parses what follows `tile/`: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`.
    pub fn parse(path: &str) -> Option<Self> {
        let (level, rest) = path.split_once('/')?;
        let level = match level {
            "entries" => None,
            l => Some(decimal(l).filter(|&l| l < 8)? as u8),
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, w)) => (index, decimal(w).filter(|w| (1..WIDTH).contains(w))?),
            None => (rest, WIDTH),
        };
        let mut n: u64 = 0;
        let elements: Vec<&str> = index.split('/').collect();
        for (i, e) in elements.iter().enumerate() {
            let digits = if i + 1 < elements.len() {
                e.strip_prefix('x')?
            } else {
                e
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n = n.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
        }
        // One encoding per index: no leading all-zero element.
        if elements.len() > 1 && elements[0] == "x000" {
            return None;
        }
        Some(Self {
            level,
            index: n,
            width,
        })
    }

    /// The tile's path after `tile/`.
    pub fn path(&self) -> String {
        let mut elements = Vec::new();
        let mut n = self.index;
        loop {
            elements.push(format!("{:03}", n % 1000));
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        elements.reverse();
        let last = elements.len() - 1;
        let index: Vec<String> = elements
            .into_iter()
            .enumerate()
            .map(|(i, e)| if i < last { format!("x{e}") } else { e })
            .collect();
        let level = self.level.map_or("entries".to_owned(), |l| l.to_string());
        let partial = match self.is_full() {
            true => String::new(),
            false => format!(".p/{}", self.width),
        };
        format!("{level}/{}{partial}", index.join("/"))
    }
}

/// A decimal number without leading zeros.
fn decimal(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_and_write_as_the_specification_spells_them() {
        for (path, tile) in [
            (
                "0/000",
                Tile {
                    level: Some(0),
                    index: 0,
                    width: 256,
                },
            ),
            (
                "1/x001/x234/067",
                Tile {
                    level: Some(1),
                    index: 1_234_067,
                    width: 256,
                },
            ),
            (
                "0/005.p/112",
                Tile {
                    level: Some(0),
                    index: 5,
                    width: 112,
                },
            ),
            (
                "entries/x001/000.p/7",
                Tile {
                    level: None,
                    index: 1000,
                    width: 7,
                },
            ),
        ] {
            assert_eq!(Tile::parse(path), Some(tile), "{path}");
            assert_eq!(tile.path(), path);
        }
        for bad in [
            "8/000",
            "0/0",
            "0/1234",
            "0/x001",
            "0/001.p/256",
            "0/001.p/0",
            "00/000",
            "0/x000/001",
            "0/001.p/07",
            "e/000",
            "0/001/",
            "0/-01",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_tree_has_the_tiles_the_specification_lists() {
        // 70,000 leaves: 273 full level-0 tiles, one of width 112; one full
        // level-1 tile, one of 17; one level-2 tile of width 1.
        let t = |level, index, width| Tile {
            level: Some(level),
            index,
            width,
        };
        let size = 70_000;
        assert!(t(0, 272, 256).within(size) && !t(0, 273, 256).within(size));
        assert!(t(0, 273, 112).within(size) && !t(0, 273, 113).within(size));
        assert!(t(1, 0, 256).within(size) && t(1, 1, 17).within(size));
        assert!(!t(1, 1, 18).within(size));
        assert!(t(2, 0, 1).within(size) && !t(3, 0, 1).within(size));
        assert!(!t(0, 0, 1).within(0));
        // A partial tile of a size the log had stays within it.
        assert!(t(0, 0, 5).within(size) && t(0, 273, 111).within(size));
        let entries = Tile {
            level: None,
            index: 273,
            width: 112,
        };
        assert!(entries.within(size) && entries.leaves() == (69_888..70_000));
        assert!(!t(0, u64::MAX / 2, 256).within(u64::MAX));
    }
}
