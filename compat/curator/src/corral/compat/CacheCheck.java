package corral.compat;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;

/**
 * (e) CuratorCache (and TreeCache) on a subtree, fed by another client's creates/updates/deletes.
 * Phase 1: one change at a time, each must show up in both caches. Phase 2: a fast burst of
 * random changes; afterwards both caches must equal the server's tree.
 */
public final class CacheCheck {
    static final Random rnd = new Random(42);

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        CuratorFramework writer = Check.client(connect);
        CuratorFramework reader = Check.client(connect);
        String base = Check.basePath("cache");
        root = base;
        writer.create().creatingParentsIfNeeded().forPath(base, new byte[0]);

        CountDownLatch ready = new CountDownLatch(2);
        AtomicInteger created = new AtomicInteger(), changed = new AtomicInteger(), deleted = new AtomicInteger();
        CuratorCache cache = CuratorCache.build(reader, base);
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> created.incrementAndGet())
                .forChanges((o, n) -> changed.incrementAndGet())
                .forDeletes(o -> deleted.incrementAndGet())
                .forInitialized(ready::countDown).build());
        cache.start();
        // TreeCache gets its own session: on ZooKeeper 3.8 a standard watch and a persistent
        // recursive watch from the same session on one path interfere (ZOOKEEPER-4466, fixed in 3.9)
        CuratorFramework treeReader = Check.client(connect);
        TreeCache tree = TreeCache.newBuilder(treeReader, base).build();
        tree.getListenable().addListener((cl, ev) -> {
            if (ev.getType() == TreeCacheEvent.Type.INITIALIZED) ready.countDown();
        });
        tree.start();
        Check.check("cache.initialized", ready.await(20, TimeUnit.SECONDS),
                "CuratorCache and TreeCache reported their initial load");

        int[] ops = new int[3];
        boolean stepOk = true;
        String firstMiss = "";
        for (int i = 0; i < 60 && stepOk; i++) {
            String what = randomOp(writer, base, ops);
            Map<String, String> truth = read(writer, base);
            stepOk = Check.waitFor(10_000, () -> truth.equals(view(cache)) && truth.equals(view(tree)));
            if (!stepOk) firstMiss = "after op " + i + " (" + what + "): cache=" + view(cache) + " tree="
                    + view(tree) + " server=" + truth;
        }
        Check.check("cache.each-change-seen", stepOk, stepOk ? "60 single changes each reached "
                + "CuratorCache and TreeCache" : firstMiss);

        for (int i = 0; i < 400; i++) randomOp(writer, base, ops);
        Map<String, String> truth = read(writer, base);
        boolean cc = Check.waitFor(20_000, () -> truth.equals(view(cache)));
        boolean tc = Check.waitFor(5_000, () -> truth.equals(view(tree)));
        Check.info("writer ops: " + ops[0] + " creates, " + ops[1] + " updates, " + ops[2] + " deletes; "
                + "CuratorCache events: " + created + " created, " + changed + " changed, " + deleted + " deleted");
        Check.check("cache.curatorcache-converges", cc, truth.size() + " nodes"
                + (cc ? "" : "; cache=" + view(cache) + " server=" + truth));
        Check.check("cache.treecache-converges", tc, truth.size() + " nodes"
                + (tc ? "" : "; tree=" + view(tree) + " server=" + truth));
        Check.check("cache.event-kinds", created.get() > 0 && changed.get() > 0 && deleted.get() > 0,
                "listener got creates, changes and deletes");
        cache.close();
        tree.close();
        reader.close();
        treeReader.close();
        Check.finish(writer, base);
    }

    /** A random create / setData / delete on base/a{0..5}[/b{0..3}]. */
    static String randomOp(CuratorFramework c, String base, int[] ops) throws Exception {
        String p = base + "/a" + rnd.nextInt(6) + (rnd.nextBoolean() ? "/b" + rnd.nextInt(4) : "");
        byte[] data = ("v" + rnd.nextInt(1000)).getBytes(StandardCharsets.UTF_8);
        if (c.checkExists().forPath(p) == null) {
            c.create().creatingParentsIfNeeded().forPath(p, data);
            ops[0]++;
            return "create " + p;
        } else if (rnd.nextInt(10) < 6) {
            c.setData().forPath(p, data);
            ops[1]++;
            return "set " + p;
        } else {
            c.delete().deletingChildrenIfNeeded().forPath(p);
            ops[2]++;
            return "delete " + p;
        }
    }

    static Map<String, String> read(CuratorFramework c, String path) throws Exception {
        Map<String, String> m = new TreeMap<>();
        m.put(path, new String(c.getData().forPath(path), StandardCharsets.UTF_8));
        for (String child : c.getChildren().forPath(path)) m.putAll(read(c, path + "/" + child));
        return m;
    }

    static Map<String, String> view(CuratorCache cache) {
        Map<String, String> m = new TreeMap<>();
        cache.stream().forEach(d -> m.put(d.getPath(), str(d)));
        return m;
    }

    static String root;

    static Map<String, String> view(TreeCache tree) {
        Map<String, String> m = new TreeMap<>();
        walk(tree, tree.getCurrentData(root), m);
        return m;
    }

    static void walk(TreeCache t, ChildData d, Map<String, String> m) {
        if (d == null) return;
        m.put(d.getPath(), str(d));
        Map<String, ChildData> kids = t.getCurrentChildren(d.getPath());
        if (kids != null) for (String k : kids.keySet()) walk(t, t.getCurrentData(d.getPath() + "/" + k), m);
    }

    static String str(ChildData d) {
        return d.getData() == null ? "" : new String(d.getData(), StandardCharsets.UTF_8);
    }
}
