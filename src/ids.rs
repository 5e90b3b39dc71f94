//! Typed indices. Each indexes a plain `Vec` owned by one component, so a
//! tile number can never be used where a link number is meant.

macro_rules! typed_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u32);
        impl $name {
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
            #[inline]
            pub fn from_index(i: usize) -> Self {
                $name(u32::try_from(i).expect(concat!(stringify!($name), " overflow")))
            }
        }
        impl $crate::ids::Index for $name {
            #[inline]
            fn index(self) -> usize {
                self.0 as usize
            }
            #[inline]
            fn from_index(i: usize) -> Self {
                $name::from_index(i)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

/// A typed index into a plain vector (`sim::slab::Slab` keys on it).
pub trait Index: Copy {
    fn index(self) -> usize;
    fn from_index(i: usize) -> Self;
}

typed_id!(
    /// A tile anywhere in the system: chip * tiles_per_chip + local index.
    TileId
);
typed_id!(
    /// A chip of the system.
    ChipId
);
typed_id!(
    /// A node of the network graph (router, switch, or endpoint).
    NodeId
);
typed_id!(
    /// A directed link of the network graph.
    LinkId
);
typed_id!(
    /// A DRAM channel (HBM pseudo-channel or 3D-DRAM vault channel).
    ChannelId
);
typed_id!(
    /// An asynchronous operation in flight in the simulator (a load, store,
    /// send or receive), until its last part is done.
    OpId
);
typed_id!(
    /// A message in flight in the simulator, until it is delivered.
    MessageId
);
typed_id!(
    /// A packet in flight in the simulator, until it is ejected.
    PacketId
);
typed_id!(
    /// A message that arrived in the simulator before its receive was
    /// posted, until a receive takes it.
    ArrivalId
);
