//! The cores' interconnect, as a graph: how far an inter-processor interrupt travels.
//!
//! Owns the graph of cores and links (petgraph) built from `[topology]`: a crossbar
//! (`full`: every pair one hop), a `ring`, a 2-D `mesh` (row-major, `width` cores a
//! row), `two_socket` (each half of the cores a ring, the first ceil(n/2) in socket 0,
//! one link between core 0 and core ceil(n/2)) or an explicit `edges` list with each
//! core's socket. In: the config and the
//! core count. Out: hop counts and sockets per pair of cores, from which the shootdown
//! model prices an IPI: `ipi_base_cycles + hops x hop_cycles (+ cross_socket_cycles when
//! the sockets differ)`. Computed once at start (all-pairs shortest paths by breadth:
//! every link costs one hop), so a lookup on the run's path is one array read.

use crate::config::{TopologyConfig, TopologyKind};
use petgraph::graph::{NodeIndex, UnGraph};

/// Hops and sockets of every pair of cores.
#[derive(Clone, Debug)]
pub struct Topology {
    n: usize,
    hops: Vec<u32>,
    socket: Vec<u32>,
}

impl Topology {
    /// The graph of `n` cores as configured; errors name the key.
    pub fn new(cfg: &TopologyConfig, n: usize) -> Result<Topology, (String, String)> {
        let mut g: UnGraph<(), ()> = UnGraph::new_undirected();
        let nodes: Vec<NodeIndex> = (0..n).map(|_| g.add_node(())).collect();
        let mut socket = vec![0u32; n];
        let link = |g: &mut UnGraph<(), ()>, a: usize, b: usize| {
            if a != b && g.find_edge(nodes[a], nodes[b]).is_none() {
                g.add_edge(nodes[a], nodes[b], ());
            }
        };
        match cfg.kind {
            TopologyKind::Full => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(&mut g, a, b);
                    }
                }
            }
            TopologyKind::Ring => {
                for a in 0..n {
                    link(&mut g, a, (a + 1) % n);
                }
            }
            TopologyKind::Mesh => {
                let w = if cfg.width > 0 {
                    cfg.width as usize
                } else {
                    (1..=n).find(|w| w * w >= n).unwrap_or(1)
                };
                for a in 0..n {
                    if (a + 1) % w != 0 && a + 1 < n {
                        link(&mut g, a, a + 1);
                    }
                    if a + w < n {
                        link(&mut g, a, a + w);
                    }
                }
            }
            TopologyKind::TwoSocket => {
                let half = n.div_ceil(2);
                for (s, range) in [(0u32, 0..half), (1, half..n)] {
                    let cores: Vec<usize> = range.collect();
                    for (i, &a) in cores.iter().enumerate() {
                        socket[a] = s;
                        link(&mut g, a, cores[(i + 1) % cores.len()]);
                    }
                }
                if n > 1 {
                    link(&mut g, 0, half);
                }
            }
            TopologyKind::Edges => {
                for (i, e) in cfg.edges.iter().enumerate() {
                    let [a, b] = [e[0] as usize, e[1] as usize];
                    if a >= n || b >= n {
                        return Err((
                            format!("topology.edges[{i}]"),
                            format!("links core {a} and core {b}: the machine has {n} cores"),
                        ));
                    }
                    link(&mut g, a, b);
                }
                if !cfg.sockets.is_empty() {
                    if cfg.sockets.len() != n {
                        return Err((
                            "topology.sockets".into(),
                            format!("names {} sockets for {n} cores", cfg.sockets.len()),
                        ));
                    }
                    socket.clone_from(&cfg.sockets);
                }
            }
        }
        let mut hops = vec![u32::MAX; n * n];
        for a in 0..n {
            let d = petgraph::algo::dijkstra(&g, nodes[a], None, |_| 1u32);
            for (node, h) in d {
                hops[a * n + node.index()] = h;
            }
        }
        if let Some(i) = hops.iter().position(|&h| h == u32::MAX) {
            return Err((
                "topology".into(),
                format!(
                    "core {} cannot reach core {}: every core must be linked to every other",
                    i / n,
                    i % n
                ),
            ));
        }
        Ok(Topology { n, hops, socket })
    }

    /// Links on the shortest path from core `a` to core `b`.
    pub fn hops(&self, a: usize, b: usize) -> u32 {
        self.hops[a * self.n + b]
    }

    /// Whether cores `a` and `b` sit in different sockets.
    pub fn cross_socket(&self, a: usize, b: usize) -> bool {
        self.socket[a] != self.socket[b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(kind: TopologyKind, n: usize) -> Topology {
        let cfg = TopologyConfig {
            kind,
            ..Default::default()
        };
        Topology::new(&cfg, n).unwrap()
    }

    /// Hop counts by formula: a ring's shorter way round, a mesh's Manhattan distance,
    /// two sockets' ring distances to the linking cores plus the link.
    #[test]
    fn hops_follow_the_shapes() {
        for n in [1usize, 2, 3, 8, 13] {
            let r = topo(TopologyKind::Ring, n);
            let f = topo(TopologyKind::Full, n);
            for a in 0..n {
                for b in 0..n {
                    let d = a.abs_diff(b);
                    assert_eq!(r.hops(a, b) as usize, d.min(n - d), "ring {n}: {a}-{b}");
                    assert_eq!(f.hops(a, b), (a != b) as u32);
                }
            }
        }
        let m = topo(TopologyKind::Mesh, 16);
        for a in 0..16usize {
            for b in 0..16usize {
                let d = (a % 4).abs_diff(b % 4) + (a / 4).abs_diff(b / 4);
                assert_eq!(m.hops(a, b) as usize, d);
            }
        }
        let t = topo(TopologyKind::TwoSocket, 8);
        let ring4 = |a: usize, b: usize| a.abs_diff(b).min(4 - a.abs_diff(b));
        for a in 0..8usize {
            for b in 0..8usize {
                let want = if (a < 4) == (b < 4) {
                    ring4(a % 4, b % 4)
                } else {
                    ring4(a % 4, 0) + 1 + ring4(b % 4, 0)
                };
                assert_eq!(t.hops(a, b) as usize, want, "{a}-{b}");
                assert_eq!(t.cross_socket(a, b), (a < 4) != (b < 4));
            }
        }
    }

    #[test]
    fn bad_edges_are_named() {
        let cfg = TopologyConfig {
            kind: TopologyKind::Edges,
            edges: vec![[0, 1], [1, 5]],
            ..Default::default()
        };
        assert_eq!(Topology::new(&cfg, 3).unwrap_err().0, "topology.edges[1]");
        let cfg = TopologyConfig {
            kind: TopologyKind::Edges,
            edges: vec![[0, 1]],
            ..Default::default()
        };
        assert_eq!(Topology::new(&cfg, 3).unwrap_err().0, "topology");
    }
}
