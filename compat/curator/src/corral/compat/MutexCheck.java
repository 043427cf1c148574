package corral.compat;

import java.io.File;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

/**
 * (a) InterProcessMutex: PROCS JVMs x THREADS threads, each acquiring the same lock ITERS times.
 * Detector, independent of the server: while holding the lock, a thread takes a non-blocking
 * OS file lock on a shared file (fails if another holder has it, in this JVM or another) and
 * increments a counter stored in that file without any other protection: the final count must
 * equal the number of acquisitions (no lost update, no overlap).
 *
 *   MutexCheck HOST:PORT            driver: spawns the JVMs, checks the result
 *   MutexCheck worker HOST:PORT PATH FILE THREADS ITERS
 */
public final class MutexCheck {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("worker")) {
            worker(args[1], args[2], args[3], Integer.parseInt(args[4]), Integer.parseInt(args[5]));
            return;
        }
        String connect = args[0];
        int procs = Integer.getInteger("procs", 3), threads = Integer.getInteger("threads", 10);
        int iters = Integer.getInteger("iters", 30);
        CuratorFramework c = Check.client(connect);
        String base = Check.basePath("mutex");
        File file = File.createTempFile("corral-mutex", ".bin");
        file.deleteOnExit();
        try (RandomAccessFile raf = new RandomAccessFile(file, "rw")) { raf.writeLong(0); }

        String java = System.getProperty("java.home") + "/bin/java";
        List<Process> ps = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < procs; i++) {
            ps.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    MutexCheck.class.getName(), "worker", connect, base + "/lock", file.getPath(),
                    "" + threads, "" + iters).inheritIO().start());
        }
        boolean workersOk = true;
        for (Process p : ps) {
            if (!p.waitFor(600, TimeUnit.SECONDS)) { p.destroyForcibly(); workersOk = false; }
            else workersOk &= p.exitValue() == 0;
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        long count;
        try (RandomAccessFile raf = new RandomAccessFile(file, "r")) { count = raf.readLong(); }
        long expected = (long) procs * threads * iters;
        Check.check("mutex.workers", workersOk, procs + " JVMs x " + threads + " threads finished cleanly");
        Check.check("mutex.exclusive", count == expected,
                "counter " + count + " / expected " + expected + " acquisitions");
        Check.info(String.format("mutex: %d acquisitions in %.2fs = %.0f acquisitions/s",
                expected, secs, expected / secs));
        Check.finish(c, base);
    }

    static void worker(String connect, String lockPath, String file, int threads, int iters)
            throws Exception {
        CuratorFramework c = Check.client(connect);
        AtomicLong violations = new AtomicLong(), errors = new AtomicLong();
        try (RandomAccessFile raf = new RandomAccessFile(file, "rw")) {
            FileChannel ch = raf.getChannel();
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                Thread th = new Thread(() -> {
                    InterProcessMutex m = new InterProcessMutex(c, lockPath);
                    for (int i = 0; i < iters; i++) {
                        try {
                            if (!m.acquire(120, TimeUnit.SECONDS)) { errors.incrementAndGet(); continue; }
                            try {
                                FileLock fl = null;
                                try { fl = ch.tryLock(); } catch (OverlappingFileLockException e) { fl = null; }
                                if (fl == null) { violations.incrementAndGet(); continue; }
                                try {
                                    ByteBuffer b = ByteBuffer.allocate(8);
                                    ch.read(b, 0); b.flip();
                                    long v = b.getLong();
                                    b.clear(); b.putLong(v + 1); b.flip();
                                    ch.write(b, 0);
                                } finally { fl.release(); }
                            } finally { m.release(); }
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            System.err.println("mutex worker: " + e);
                        }
                    }
                });
                ts.add(th); th.start();
            }
            for (Thread th : ts) th.join();
        }
        c.close();
        if (violations.get() > 0 || errors.get() > 0) {
            System.out.println("FAIL mutex.worker: " + violations.get() + " overlapping holders, "
                    + errors.get() + " errors");
            System.exit(1);
        }
    }
}
