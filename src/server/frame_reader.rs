//! Reads a client's frames with a buffer that exists only while bytes are
//! arriving: it is taken when bytes were read and given back once every
//! byte read has gone into frames. An idle connection so holds no read
//! buffer (a codec reader keeps one for its lifetime), and a connection that
//! once sent a megabyte does not keep a megabyte.

use bytes::BytesMut;
use jute::{CodecError, FrameCodec, Inbound};
use tokio::io::ErrorKind;
use tokio::net::tcp::OwnedReadHalf;
use tokio_util::codec::Decoder;

/// What one read asks room for: most requests are far smaller; a larger
/// frame gets the rest reserved by the codec as it arrives.
const READ_CHUNK: usize = 512;

/// What a read with no partial frame buffered takes at most (then copied).
const STACK_CHUNK: usize = 4096;

pub struct FrameReader {
    rd: OwnedReadHalf,
    codec: FrameCodec,
    buf: BytesMut,
    eof: bool,
}

impl FrameReader {
    pub fn new(rd: OwnedReadHalf, codec: FrameCodec) -> Self {
        FrameReader {
            rd,
            codec,
            buf: BytesMut::new(),
            eof: false,
        }
    }

    /// The next frame, an error for bytes that are no frame, or None at the
    /// end of the stream (a partial frame there is dropped with it).
    pub async fn next(&mut self) -> Option<Result<Inbound, CodecError>> {
        loop {
            if !self.buf.is_empty() {
                match self.codec.decode(&mut self.buf) {
                    Ok(Some(item)) => {
                        if self.buf.is_empty() {
                            // The frame keeps what it needs of the allocation.
                            self.buf = BytesMut::new();
                        }
                        return Some(Ok(item));
                    }
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.rd.readable().await {
                return Some(Err(e.into()));
            }
            match self.read_ready() {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// Read what the socket has without waiting.
    fn read_ready(&mut self) -> std::io::Result<usize> {
        if !self.buf.is_empty() {
            // The rest of a frame: read into the buffer holding its start.
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            return self.rd.try_read_buf(&mut self.buf);
        }
        // Nothing buffered: read onto the stack, so a wakeup with nothing to
        // read (one follows almost every request) allocates nothing, and a
        // request gets a buffer of its own size.
        let mut chunk = [0u8; STACK_CHUNK];
        let n = self.rd.try_read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::Role;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (FrameReader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (rd, _wr) = server.into_split();
        // The write half is dropped: a half-closed socket still reads.
        (
            FrameReader::new(rd, FrameCodec::new(Role::Server, 1 << 20)),
            client,
        )
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(body.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn frames_split_and_joined_across_reads_come_out_whole() {
        let (mut reader, mut client) = pair().await;
        let big = vec![7u8; 100_000];
        let mut bytes = frame(b"hello");
        bytes.extend(frame(&big));
        bytes.extend(frame(b"x"));
        let writer = tokio::spawn(async move {
            // Dribbled in pieces that cut through length prefixes and bodies.
            for piece in bytes.chunks(3333) {
                client.write_all(piece).await.expect("write");
                tokio::task::yield_now().await;
            }
            client
        });
        let mut lens = Vec::new();
        for _ in 0..3 {
            match reader.next().await {
                Some(Ok(Inbound::Handshake(f) | Inbound::Frame(f))) => lens.push(f.len()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(lens, [5, 100_000, 1]);
        // Everything read went into frames: no buffer is held.
        assert_eq!(reader.buf.capacity(), 0);
        drop(writer.await);
        assert!(reader.next().await.is_none());
    }

    #[tokio::test]
    async fn a_reader_waiting_for_the_next_request_holds_no_buffer() {
        let (mut reader, mut client) = pair().await;
        client.write_all(&frame(b"ping")).await.expect("write");
        assert!(matches!(reader.next().await, Some(Ok(_))));
        // Waiting: the socket was readable a moment ago and is not now.
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), reader.next()).await;
        assert!(waited.is_err());
        assert_eq!(reader.buf.capacity(), 0);
        drop(client);
    }

    #[tokio::test]
    async fn a_partial_frame_at_the_end_of_the_stream_ends_it() {
        let (mut reader, mut client) = pair().await;
        let mut bytes = frame(b"abc");
        bytes.truncate(5);
        client.write_all(&bytes).await.expect("write");
        drop(client);
        assert!(reader.next().await.is_none());
    }

    #[tokio::test]
    async fn an_oversize_length_is_an_error() {
        let (mut reader, mut client) = pair().await;
        client
            .write_all(&(2u32 << 20).to_be_bytes())
            .await
            .expect("write");
        assert!(matches!(
            reader.next().await,
            Some(Err(CodecError::TooLarge { .. }))
        ));
    }
}
