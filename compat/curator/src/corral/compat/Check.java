package corral.compat;

import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

/** Shared helpers: client creation, PASS/FAIL reporting, waiting. */
public final class Check {
    private Check() {}

    private static int failures = 0;

    public static CuratorFramework client(String connect) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(15_000)
                .connectionTimeoutMs(15_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 2_000))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("could not connect to " + connect);
        }
        return c;
    }

    /** A fresh path under /corral-compat so runs never see each other's nodes. */
    public static String basePath(String name) {
        return "/corral-compat/" + name + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    public static void check(String name, boolean ok, String detail) {
        System.out.println((ok ? "PASS " : "FAIL ") + name + (detail.isEmpty() ? "" : ": " + detail));
        if (!ok) failures++;
    }

    public static void info(String msg) {
        System.out.println("     " + msg);
    }

    public static boolean waitFor(long millis, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (cond.getAsBoolean()) return true;
            Thread.sleep(20);
        }
        return cond.getAsBoolean();
    }

    /** Removes the test's subtree (best effort) and exits 1 if any check failed. */
    public static void finish(CuratorFramework c, String base) {
        try {
            if (c != null && base != null && c.checkExists().forPath(base) != null) {
                c.delete().deletingChildrenIfNeeded().forPath(base);
            }
        } catch (Exception e) {
            info("cleanup of " + base + " failed: " + e);
        }
        if (c != null) c.close();
        System.exit(failures == 0 ? 0 : 1);
    }
}
