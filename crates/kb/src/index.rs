//! The tantivy index: schema, building (in RAM or into the on-disk cache), opening, searching.

use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};

use crate::{Corpus, KbError, SOURCES, Sources};

/// Most passages one search returns (the env clamps `top_k` to the same bound).
pub const MAX_TOP_K: usize = 10;
/// BM25 candidates re-ranked by query coverage.
const RERANK_POOL: usize = 200;
/// How strongly query coverage weighs in the final score (see [`KbIndex::rerank`]).
const COVERAGE_POWER: i32 = 2;
/// Weight of a title match relative to a match in the text (titles are short, so a title match
/// already scores high; more would let any disease named after a symptom win every query).
const TITLE_BOOST: f32 = 1.5;
/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 240;
/// A query keeps at most this many distinct terms (bounds the cost of a pasted essay).
const MAX_QUERY_TERMS: usize = 32;
/// Memory for the indexing thread: enough for the whole corpus in one segment.
const WRITER_BUDGET: usize = 1 << 30;
/// The analyser of the title and text fields (tantivy's built-in English stemmer).
const TOKENIZER: &str = "en_stem";
/// File written into a cache directory once the index is complete.
const META_FILE: &str = "medgym-kb.json";
/// Temporary build directories older than this are left-overs of a crash and removed.
const STALE_TMP: Duration = Duration::from_secs(3600);
/// Cached indexes of other corpora kept besides the current one (the most recently built).
const KEEP_OTHERS: usize = 3;

/// Words dropped from queries before stemming: Lucene's English stop words plus question words,
/// which every passage or none would match.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "what", "which", "who", "whom", "how", "why",
    "when", "where", "does", "do", "did", "can", "could", "should", "would", "i", "me", "my",
    "you", "your", "he", "she", "his", "her", "him", "has", "have", "had", "been", "being", "from",
    "about", "any", "some", "all", "also", "than", "so", "very",
];

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Passage id, e.g. `disease:bacterial_meningitis`.
    pub id: String,
    /// Passage source (one of [`SOURCES`]).
    pub source: String,
    /// Passage title.
    pub title: String,
    /// BM25 score.
    pub score: f32,
    /// The best fragment of the text, with "…" where it is cut.
    pub snippet: String,
    /// Byte ranges of `snippet` that match query terms.
    pub highlights: Vec<Range<usize>>,
}

impl Hit {
    /// The snippet with every highlighted range wrapped in `open` … `close`.
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(self.snippet.len() + 8 * self.highlights.len());
        let mut at = 0;
        for r in &self.highlights {
            out.push_str(&self.snippet[at..r.start]);
            out.push_str(open);
            out.push_str(&self.snippet[r.clone()]);
            out.push_str(close);
            at = r.end;
        }
        out.push_str(&self.snippet[at..]);
        out
    }
}

/// What building an index is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildProgress {
    /// Passages added so far, of all.
    Indexing {
        /// Added so far.
        done: usize,
        /// All passages.
        total: usize,
    },
    /// Writing the segment to disk.
    Committing,
}

/// How [`KbIndex::open_or_build`] got its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Opened from the cache.
    Warm,
    /// Built, as there was none for this corpus.
    Built,
    /// Built again, as the cached one could not be opened.
    Rebuilt,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    source: Field,
    title: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        source: b.add_text_field("source", STRING | STORED),
        title: b.add_text_field("title", text_options.clone()),
        text: b.add_text_field("text", text_options),
    };
    (b.build(), fields)
}

fn fields_of(schema: &Schema) -> Result<Fields, tantivy::TantivyError> {
    Ok(Fields {
        id: schema.get_field("id")?,
        source: schema.get_field("source")?,
        title: schema.get_field("title")?,
        text: schema.get_field("text")?,
    })
}

/// What a cache directory records about its index.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    hash: String,
    passages: usize,
    tantivy: String,
}

/// The searchable knowledge base.
pub struct KbIndex {
    searcher: Searcher,
    _reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    hash: String,
    len: usize,
    path: Option<PathBuf>,
}

impl fmt::Debug for KbIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KbIndex")
            .field("passages", &self.len)
            .field("hash", &self.hash)
            .field("path", &self.path)
            .finish()
    }
}

impl KbIndex {
    /// Builds the index of a corpus in memory (tests, benches, or when no cache can be written).
    pub fn in_ram(corpus: &Corpus) -> Result<Self, KbError> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        write_docs(&index, fields, corpus, &mut |_| {})?;
        Self::from_index(&index, corpus.hash().to_string(), None)
    }

    /// The cache directory of the corpus with this key ([`Corpus::hash`], [`Sources::key`]).
    pub fn cache_dir(root: &Path, key: &str) -> PathBuf {
        root.join(format!("kb-{key}"))
    }

    /// Opens the cached index of `corpus` under `root`, building it first if there is none (or
    /// the cached one is damaged). The build goes into a temporary directory that is renamed into
    /// place once complete, so a crash never leaves a half-written index where one is looked for,
    /// and two processes building at once both end up with the same, complete index.
    pub fn open_or_build(
        corpus: &Corpus,
        root: &Path,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> Result<(Self, CacheStatus), KbError> {
        Self::open_or_build_with(corpus.hash(), root, || Cow::Borrowed(corpus), progress)
    }

    /// As [`open_or_build`](Self::open_or_build) for the corpus of `sources`, generated only if
    /// the index has to be built: a warm start costs the key's hashing and a memory map.
    pub fn open_or_build_sources(
        sources: &Sources<'_>,
        root: &Path,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> Result<(Self, CacheStatus), KbError> {
        Self::open_or_build_with(
            sources.key(),
            root,
            || Cow::Owned(sources.corpus()),
            progress,
        )
    }

    fn open_or_build_with<'c>(
        key: &str,
        root: &Path,
        corpus: impl FnOnce() -> Cow<'c, Corpus>,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> Result<(Self, CacheStatus), KbError> {
        let dir = Self::cache_dir(root, key);
        let mut status = CacheStatus::Built;
        if dir.exists() {
            match Self::open_dir(&dir, key) {
                Ok(index) => return Ok((index, CacheStatus::Warm)),
                Err(_) => {
                    fs::remove_dir_all(&dir).map_err(|e| KbError::io(&dir, e))?;
                    status = CacheStatus::Rebuilt;
                }
            }
        }
        let corpus = corpus();
        debug_assert_eq!(corpus.hash(), key);
        fs::create_dir_all(root).map_err(|e| KbError::io(root, e))?;
        prune(root, &dir);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = root.join(format!(".kb-{key}.tmp-{}-{nanos}", std::process::id()));
        let built = build_dir(&tmp, &corpus, progress);
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = fs::remove_dir_all(&tmp);
            if !dir.join(META_FILE).is_file() {
                return Err(KbError::io(&dir, e));
            }
            // Another process finished the same build first; use its index.
        }
        if let Ok(d) = fs::File::open(root) {
            let _ = d.sync_all();
        }
        Ok((Self::open_dir(&dir, key)?, status))
    }

    /// Opens a cache directory, checking that it holds the complete index of the corpus with
    /// this key.
    pub fn open_dir(dir: &Path, key: &str) -> Result<Self, KbError> {
        let stale = |message: String| KbError::Stale {
            path: dir.to_path_buf(),
            message,
        };
        let meta_path = dir.join(META_FILE);
        let meta = fs::read_to_string(&meta_path).map_err(|e| KbError::io(&meta_path, e))?;
        let meta: Meta = serde_json::from_str(&meta).map_err(|e| stale(e.to_string()))?;
        if meta.hash != key {
            return Err(stale(format!("it holds corpus {}, not {key}", meta.hash)));
        }
        let index = Index::open_in_dir(dir)?;
        let kb = Self::from_index(&index, meta.hash, Some(dir.to_path_buf()))?;
        if kb.len != meta.passages {
            return Err(stale(format!(
                "{} documents, expected {}",
                kb.len, meta.passages
            )));
        }
        Ok(kb)
    }

    fn from_index(index: &Index, hash: String, path: Option<PathBuf>) -> Result<Self, KbError> {
        let fields = fields_of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let len = searcher.num_docs() as usize;
        Ok(KbIndex {
            searcher,
            _reader: reader,
            fields,
            analyzer: query_analyzer(),
            hash,
            len,
            path,
        })
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index has no passages.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of the corpus indexed.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The cache directory, for an index opened from disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of index segments (1 for an index this crate built).
    pub fn segments(&self) -> usize {
        self.searcher.segment_readers().len()
    }

    /// The query's distinct terms as indexed: lower-cased, stop words dropped, stemmed.
    pub fn query_terms(&self, query: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(query);
        let mut terms: Vec<String> = Vec::new();
        while let Some(token) = stream.next() {
            if terms.len() >= MAX_QUERY_TERMS {
                break;
            }
            if !terms.contains(&token.text) {
                terms.push(token.text.clone());
            }
        }
        terms
    }

    /// The query's terms that some passage has, with their BM25 IDF in the text field (0 for a
    /// term found in titles only, which a generated corpus never has: every title is in its text).
    fn weighted_terms(&self, query: &str) -> Result<Vec<(String, f32)>, KbError> {
        let n = self.len.max(1) as f32;
        let mut out = Vec::new();
        for t in self.query_terms(query) {
            let df = |field| self.searcher.doc_freq(&Term::from_field_text(field, &t));
            let in_text = df(self.fields.text)? as f32;
            if in_text > 0.0 {
                out.push((t, (1.0 + (n - in_text + 0.5) / (in_text + 0.5)).ln()));
            } else if df(self.fields.title)? > 0 {
                out.push((t, 0.0));
            }
        }
        Ok(out)
    }

    /// The best `top_k` passages (clamped to 1..=[`MAX_TOP_K`]) for a free-text query, optionally
    /// only of one source, best first; ties keep corpus order. Query words are matched after
    /// stemming, any of them may match (BM25 ranks passages matching more and rarer words higher),
    /// a match in the title counts 1.5 times, and passages covering more of the query rank higher
    /// (each BM25 score is multiplied by the square of the IDF-weighted share of the query's
    /// terms the passage contains).
    pub fn search(
        &self,
        query: &str,
        top_k: usize,
        source: Option<&str>,
    ) -> Result<Vec<Hit>, KbError> {
        let source = source.map(parse_source).transpose()?;
        let terms = self.weighted_terms(query)?;
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 2);
        for (t, _) in &terms {
            let title = TermQuery::new(
                Term::from_field_text(f.title, t),
                IndexRecordOption::WithFreqs,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST)),
            ));
            clauses.push((
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.text, t),
                    IndexRecordOption::WithFreqs,
                )),
            ));
        }
        let words = BooleanQuery::new(clauses);
        let query: Box<dyn Query> = match source {
            None => Box::new(words),
            Some(s) => {
                let only =
                    TermQuery::new(Term::from_field_text(f.source, s), IndexRecordOption::Basic);
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(words) as Box<dyn Query>),
                    (
                        Occur::Must,
                        Box::new(ConstScoreQuery::new(Box::new(only), 0.0)),
                    ),
                ]))
            }
        };
        let pool = self
            .searcher
            .search(&*query, &TopDocs::with_limit(RERANK_POOL).order_by_score())?;
        let mut top = self.rerank(&terms, pool)?;
        top.truncate(top_k.clamp(1, MAX_TOP_K));
        if top.is_empty() {
            return Ok(Vec::new());
        }
        let mut snippets = SnippetGenerator::create(&self.searcher, &*query, f.text)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let prefixes = Prefixes::new(&terms);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = self.searcher.doc(address)?;
            let get = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let text = get(f.text);
            let (snippet, highlights) = snippet_of(&snippets, &prefixes, &text);
            hits.push(Hit {
                id: get(f.id),
                source: get(f.source),
                title: get(f.title),
                score,
                snippet,
                highlights,
            });
        }
        Ok(hits)
    }
}

impl KbIndex {
    /// Re-scores BM25 candidates by how much of the query they cover: each score is multiplied by
    /// the IDF-weighted share of the query's terms the passage contains, raised to
    /// [`COVERAGE_POWER`]. A short passage matching one word of a five-word presentation then ranks
    /// below a disease profile matching all five. Sorted by score, then document order.
    fn rerank(
        &self,
        terms: &[(String, f32)],
        pool: Vec<(f32, DocAddress)>,
    ) -> Result<Vec<(f32, DocAddress)>, KbError> {
        let weighted: Vec<(Term, f32)> = terms
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(t, w)| (Term::from_field_text(self.fields.text, t), *w))
            .collect();
        let total: f32 = weighted.iter().map(|(_, w)| w).sum();
        let mut pool = pool;
        if weighted.len() > 1 && total > 0.0 {
            let mut covered = vec![0f32; pool.len()];
            let mut order: Vec<usize> = (0..pool.len()).collect();
            order.sort_by_key(|&i| pool[i].1);
            for (segment_ord, reader) in self.searcher.segment_readers().iter().enumerate() {
                let inverted = reader.inverted_index(self.fields.text)?;
                let here: Vec<usize> = order
                    .iter()
                    .copied()
                    .filter(|&i| pool[i].1.segment_ord as usize == segment_ord)
                    .collect();
                if here.is_empty() {
                    continue;
                }
                for (term, w) in &weighted {
                    let postings = inverted
                        .read_postings(term, IndexRecordOption::Basic)
                        .map_err(|e| KbError::io(self.path.clone().unwrap_or_default(), e))?;
                    let Some(mut postings) = postings else {
                        continue;
                    };
                    for &i in &here {
                        let doc = pool[i].1.doc_id;
                        if postings.doc() <= doc && postings.seek(doc) == doc {
                            covered[i] += w;
                        }
                    }
                }
            }
            for (hit, c) in pool.iter_mut().zip(covered) {
                hit.0 *= (c / total).powi(COVERAGE_POWER);
            }
        }
        pool.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(pool)
    }
}

impl medgym_env::SearchIndex for KbIndex {
    fn search(&self, query: &str, top_k: usize) -> Vec<medgym_env::Passage> {
        // A failed search (an I/O error of the memory-mapped files) finds nothing rather than
        // failing the episode.
        KbIndex::search(self, query, top_k, None)
            .unwrap_or_default()
            .into_iter()
            .map(|h| medgym_env::Passage {
                snippet: h.marked("**", "**"),
                id: h.id,
                source: h.source,
                title: h.title,
            })
            .collect()
    }
}

/// Checks a source name.
pub fn parse_source(source: &str) -> Result<&'static str, KbError> {
    SOURCES
        .iter()
        .find(|s| **s == source)
        .copied()
        .ok_or_else(|| KbError::UnknownSource(source.to_string()))
}

/// The first characters of the query's stems, to find where in a text the query words may be
/// without stemming the whole text (an English stem keeps the start of its word).
struct Prefixes(Vec<(String, f32)>);

/// Characters of a stem compared against a word's start.
const PREFIX_CHARS: usize = 3;

impl Prefixes {
    fn new(terms: &[(String, f32)]) -> Self {
        let mut out: Vec<(String, f32)> = Vec::new();
        for (t, w) in terms {
            let p: String = t.chars().take(PREFIX_CHARS).collect();
            match out.iter_mut().find(|(q, _)| *q == p) {
                Some((_, best)) => *best = best.max(*w),
                None => out.push((p, *w)),
            }
        }
        Prefixes(out)
    }

    /// Byte offsets of the words of `text` that may be query words, with the weight of their term.
    fn candidates(&self, text: &str) -> Vec<(usize, f32)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    let word = &text[s..i];
                    for (p, w) in &self.0 {
                        let mut lower = word.chars().flat_map(char::to_lowercase);
                        if p.chars().all(|pc| lower.next() == Some(pc)) {
                            out.push((s, *w));
                            break;
                        }
                    }
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    /// The stretch of `text` (at most twice the snippet length) holding the most query weight.
    fn window(&self, text: &str) -> Range<usize> {
        let span = 2 * SNIPPET_CHARS;
        let candidates = self.candidates(text);
        let (mut best, mut best_weight) = (0, 0.0);
        let (mut lo, mut weight) = (0, 0.0);
        for hi in 0..candidates.len() {
            weight += candidates[hi].1;
            while candidates[hi].0 - candidates[lo].0 > SNIPPET_CHARS {
                weight -= candidates[lo].1;
                lo += 1;
            }
            if weight > best_weight {
                (best, best_weight) = (candidates[lo].0, weight);
            }
        }
        // Start a little before the first match, at a word boundary, so the fragment has context.
        let mut start = best.saturating_sub(SNIPPET_CHARS / 4);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        if start > 0 {
            start = text[..best]
                .rfind(' ')
                .filter(|&i| i >= start)
                .map_or(best, |i| i + 1);
        }
        let mut end = (start + span).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }
}

/// The best fragment of `text`, with ellipses where cut, and its highlighted ranges; the start of
/// the text when no query term is in it (a title-only match). Tantivy's snippet generator stems
/// every word it looks at, so it is given only the window of the text where the query words are.
fn snippet_of(
    generator: &SnippetGenerator,
    prefixes: &Prefixes,
    text: &str,
) -> (String, Vec<Range<usize>>) {
    let window = prefixes.window(text);
    let s = generator.snippet(&text[window.clone()]);
    if s.is_empty() {
        let mut end = text.len();
        if text.chars().count() > SNIPPET_CHARS {
            end = text
                .char_indices()
                .nth(SNIPPET_CHARS)
                .map_or(text.len(), |(i, _)| i);
            end = text[..end].rfind(' ').unwrap_or(end);
        }
        let mut out = text[..end].to_string();
        if end < text.len() {
            out.push('…');
        }
        return (out, Vec::new());
    }
    let range = s.fragment_range();
    let (from, to) = (window.start + range.start, window.start + range.end);
    let prefix = if from > 0 { "…" } else { "" };
    let shift = prefix.len();
    let mut ranges: Vec<Range<usize>> = s.highlighted().to_vec();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut out = format!("{prefix}{}", s.fragment());
    if to < text.len() {
        out.push('…');
    }
    let highlights = merged
        .into_iter()
        .map(|r| r.start + shift..r.end + shift)
        .collect();
    (out, highlights)
}

fn query_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| (*w).to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Adds every passage in corpus order with one indexing thread, then merges to one segment, so
/// document ids follow corpus order.
fn write_docs(
    index: &Index,
    f: Fields,
    corpus: &Corpus,
    progress: &mut dyn FnMut(BuildProgress),
) -> Result<(), KbError> {
    let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_BUDGET)?;
    let total = corpus.len();
    for (i, d) in corpus.docs().iter().enumerate() {
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.id);
        doc.add_text(f.source, d.source);
        doc.add_text(f.title, &d.title);
        doc.add_text(f.text, &d.text);
        writer.add_document(doc)?;
        if i % 1024 == 0 {
            progress(BuildProgress::Indexing { done: i, total });
        }
    }
    progress(BuildProgress::Indexing { done: total, total });
    progress(BuildProgress::Committing);
    writer.commit()?;
    let segments = index.searchable_segment_ids()?;
    if segments.len() > 1 {
        writer.merge(&segments).wait()?;
    }
    writer.wait_merging_threads()?;
    Ok(())
}

/// Builds the index of `corpus` into the new directory `dir` and writes its meta file last.
fn build_dir(
    dir: &Path,
    corpus: &Corpus,
    progress: &mut dyn FnMut(BuildProgress),
) -> Result<(), KbError> {
    fs::create_dir(dir).map_err(|e| KbError::io(dir, e))?;
    let (schema, fields) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    write_docs(&index, fields, corpus, progress)?;
    drop(index);
    let meta = Meta {
        hash: corpus.hash().to_string(),
        passages: corpus.len(),
        tantivy: tantivy::version_string().to_string(),
    };
    let path = dir.join(META_FILE);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&path)?;
        file.write_all(serde_json::to_string_pretty(&meta)?.as_bytes())?;
        file.sync_all()
    };
    write().map_err(|e| KbError::io(&path, e))
}

/// Removes left-over temporary build directories and all but the newest few cached indexes of
/// other corpora. Best effort: errors are ignored (another process may be doing the same).
fn prune(root: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let now = SystemTime::now();
    let mut others: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
        if name.starts_with(".kb-") && name.contains(".tmp-") {
            if now.duration_since(modified).unwrap_or_default() > STALE_TMP {
                let _ = fs::remove_dir_all(&path);
            }
        } else if name.starts_with("kb-") && path != keep {
            others.push((modified, path));
        }
    }
    others.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in others.into_iter().skip(KEEP_OTHERS) {
        let _ = fs::remove_dir_all(path);
    }
}

/// The default cache root: `$XDG_CACHE_HOME/medgym`, else `$HOME/.cache/medgym`, else a
/// `medgym-cache` directory in the system's temporary directory.
pub fn default_cache_root() -> PathBuf {
    let from = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = from("XDG_CACHE_HOME") {
        xdg.join("medgym")
    } else if let Some(home) = from("HOME") {
        home.join(".cache").join("medgym")
    } else {
        std::env::temp_dir().join("medgym-cache")
    }
}

#[cfg(test)]
mod tests {
    use medgym_env::SearchIndex;

    use super::*;
    use crate::Doc;

    fn doc(id: &str, title: &str, text: &str) -> Doc {
        let source = SOURCES
            .iter()
            .find(|s| id.starts_with(&format!("{s}:")))
            .copied()
            .expect("known source");
        Doc {
            id: id.into(),
            source,
            title: title.into(),
            text: text.into(),
        }
    }

    fn tiny() -> Corpus {
        Corpus::from_docs(vec![
            doc(
                "finding:HP:0000613",
                "Photophobia",
                "Photophobia is a symptom: light hurts the eyes.",
            ),
            doc(
                "finding:HP:0031179",
                "Nuchal rigidity",
                "Nuchal rigidity is a sign: neck stiffness.",
            ),
            doc(
                "disease:bacterial_meningitis",
                "Bacterial meningitis",
                "Bacterial meningitis. Very frequent: fever, headache, nuchal rigidity (neck stiffness), photophobia. Confirmed by lumbar puncture.",
            ),
            doc(
                "disease:migraine",
                "Migraine",
                "Migraine. Very frequent: throbbing headache, photophobia, nausea.",
            ),
            doc(
                "exam:cbc",
                "Complete blood count",
                "Complete blood count: haemoglobin, white cells, platelets.",
            ),
            doc(
                "icd10cm:G00.9",
                "G00.9 Bacterial meningitis, unspecified",
                "ICD-10-CM G00.9: Bacterial meningitis, unspecified.",
            ),
        ])
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn a_presentation_finds_the_disease_and_a_word_finds_its_passage() {
        let kb = KbIndex::in_ram(&tiny()).expect("index");
        assert_eq!(kb.len(), 6);
        assert_eq!(kb.segments(), 1);
        let hits = kb
            .search("fever, stiff neck and photophobia", 3, None)
            .expect("search");
        assert_eq!(
            hits[0].id,
            "disease:bacterial_meningitis",
            "{:?}",
            ids(&hits)
        );
        let hits = kb.search("photophobia", 1, None).expect("search");
        assert_eq!(ids(&hits), ["finding:HP:0000613"]);
        let hits = kb
            .search("What is a complete blood count?", 1, None)
            .expect("search");
        assert_eq!(ids(&hits), ["exam:cbc"]);
    }

    #[test]
    fn top_k_is_bounded_and_the_source_filter_applies() {
        let docs: Vec<Doc> = (0..30)
            .map(|i| {
                doc(
                    &format!("finding:f{i}"),
                    &format!("Finding {i}"),
                    "fever and more fever",
                )
            })
            .collect();
        let kb = KbIndex::in_ram(&Corpus::from_docs(docs)).expect("index");
        assert_eq!(
            kb.search("fever", 100, None).expect("search").len(),
            MAX_TOP_K
        );
        assert_eq!(kb.search("fever", 0, None).expect("search").len(), 1);
        let kb = KbIndex::in_ram(&tiny()).expect("index");
        let hits = kb
            .search("bacterial meningitis", 10, Some("icd10cm"))
            .expect("search");
        assert_eq!(ids(&hits), ["icd10cm:G00.9"]);
        let hits = kb
            .search("photophobia", 10, Some("disease"))
            .expect("search");
        assert!(hits.len() == 2 && hits.iter().all(|h| h.source == "disease"));
        assert!(matches!(
            kb.search("fever", 5, Some("cases")),
            Err(KbError::UnknownSource(_))
        ));
    }

    #[test]
    fn queries_without_known_words_find_nothing() {
        let kb = KbIndex::in_ram(&tiny()).expect("index");
        for q in ["", "   ", "what is the", "zzzqqq", "HP:", "\"(+-)*:"] {
            assert!(kb.search(q, 5, None).expect("search").is_empty(), "{q:?}");
        }
        // Query syntax is not interpreted: these are plain words.
        let hits = kb
            .search("title:migraine AND -photophobia", 5, None)
            .expect("search");
        assert_eq!(hits[0].id, "disease:migraine");
    }

    #[test]
    fn snippets_highlight_the_query_words() {
        let kb = KbIndex::in_ram(&tiny()).expect("index");
        let hits = kb
            .search("neck stiffness", 1, Some("disease"))
            .expect("search");
        let h = &hits[0];
        assert!(!h.highlights.is_empty());
        for r in &h.highlights {
            let word = h.snippet[r.clone()].to_lowercase();
            assert!(
                word.starts_with("neck") || word.starts_with("stiff"),
                "{word}"
            );
        }
        assert!(
            h.marked("**", "**").contains("**neck**"),
            "{}",
            h.marked("**", "**")
        );
        // A title-only match shows the start of the text.
        let long = "word ".repeat(200);
        let kb = KbIndex::in_ram(&Corpus::from_docs(vec![doc(
            "exam:x",
            "Unique title",
            &long,
        )]))
        .expect("index");
        let h = &kb.search("unique", 1, None).expect("search")[0];
        assert!(h.highlights.is_empty() && h.snippet.ends_with('…'));
        assert!(h.snippet.chars().count() <= SNIPPET_CHARS + 1);
    }

    #[test]
    fn the_env_sees_passages_with_marked_snippets() {
        let kb = KbIndex::in_ram(&tiny()).expect("index");
        let index: &dyn SearchIndex = &kb;
        let passages = index.search("photophobia", 2);
        assert_eq!(passages.len(), 2);
        assert_eq!(passages[0].id, "finding:HP:0000613");
        assert_eq!(passages[0].source, "finding");
        assert!(
            passages[0].snippet.contains("**Photophobia**"),
            "{}",
            passages[0].snippet
        );
    }

    #[test]
    fn the_cache_is_reused_when_unchanged_and_rebuilt_when_the_corpus_changes() {
        let root = tempfile::tempdir().expect("temp dir");
        let corpus = tiny();
        let mut events = 0;
        let (a, status) =
            KbIndex::open_or_build(&corpus, root.path(), &mut |_| events += 1).expect("build");
        assert_eq!(status, CacheStatus::Built);
        assert!(events > 0, "progress was reported");
        let dir = KbIndex::cache_dir(root.path(), corpus.hash());
        assert_eq!(a.path(), Some(dir.as_path()));
        assert!(dir.join(META_FILE).is_file());
        let query = "fever, neck stiffness, photophobia";
        let first = a.search(query, 5, None).expect("search");
        drop(a);

        let mut events = 0;
        let (b, status) =
            KbIndex::open_or_build(&corpus, root.path(), &mut |_| events += 1).expect("open");
        assert_eq!(status, CacheStatus::Warm);
        assert_eq!(events, 0, "a warm open builds nothing");
        assert_eq!(b.search(query, 5, None).expect("search"), first);
        assert_eq!(
            KbIndex::in_ram(&corpus)
                .expect("ram")
                .search(query, 5, None)
                .expect("search"),
            first,
            "disk and RAM indexes answer alike"
        );

        // A changed corpus gets its own directory; the old one stays for its own corpus.
        let mut docs = corpus.docs().to_vec();
        docs.push(doc("exam:new", "A new exam", "Measures something new."));
        let changed = Corpus::from_docs(docs);
        let (c, status) =
            KbIndex::open_or_build(&changed, root.path(), &mut |_| {}).expect("rebuild");
        assert_eq!(status, CacheStatus::Built);
        assert_eq!(c.len(), corpus.len() + 1);
        assert_ne!(c.path(), Some(dir.as_path()));
        assert_eq!(
            c.search("something new", 1, None).expect("search")[0].id,
            "exam:new"
        );
        assert!(dir.is_dir());

        // No temporary directory is left behind.
        let leftovers: Vec<_> = fs::read_dir(root.path())
            .expect("read")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_damaged_or_mismatched_cache_is_rebuilt() {
        let root = tempfile::tempdir().expect("temp dir");
        let corpus = tiny();
        let (_, status) = KbIndex::open_or_build(&corpus, root.path(), &mut |_| {}).expect("build");
        assert_eq!(status, CacheStatus::Built);
        let dir = KbIndex::cache_dir(root.path(), corpus.hash());

        // The meta file names another corpus: opening refuses, open_or_build rebuilds.
        let meta = dir.join(META_FILE);
        let text = fs::read_to_string(&meta).expect("meta");
        fs::write(&meta, text.replace(corpus.hash(), "0123")).expect("write");
        assert!(matches!(
            KbIndex::open_dir(&dir, corpus.hash()),
            Err(KbError::Stale { .. })
        ));
        let (kb, status) =
            KbIndex::open_or_build(&corpus, root.path(), &mut |_| {}).expect("rebuild");
        assert_eq!(status, CacheStatus::Rebuilt);
        assert_eq!(kb.len(), corpus.len());
        drop(kb);

        // The meta file promises more documents than the index has: rebuilt too.
        let text = fs::read_to_string(&meta).expect("meta");
        fs::write(&meta, text.replace("\"passages\": 6", "\"passages\": 7")).expect("write");
        assert!(matches!(
            KbIndex::open_dir(&dir, corpus.hash()),
            Err(KbError::Stale { .. })
        ));

        // The index files are gone: rebuilt too.
        for entry in fs::read_dir(&dir).expect("read").flatten() {
            if entry.file_name() != META_FILE {
                let _ = fs::remove_file(entry.path());
            }
        }
        let (kb, status) =
            KbIndex::open_or_build(&corpus, root.path(), &mut |_| {}).expect("rebuild");
        assert_eq!(status, CacheStatus::Rebuilt);
        assert_eq!(
            kb.search("photophobia", 1, None).expect("search")[0].id,
            "finding:HP:0000613"
        );
    }

    #[test]
    fn a_warm_start_from_sources_generates_nothing() {
        let root = tempfile::tempdir().expect("temp dir");
        let k = medgym_clinic::Knowledge::embedded().expect("knowledge");
        let sources = Sources::new(&k, Vec::new());
        let (built, status) =
            KbIndex::open_or_build_sources(&sources, root.path(), &mut |_| {}).expect("build");
        assert_eq!(status, CacheStatus::Built);
        assert_eq!(built.hash(), sources.key());
        assert_eq!(
            built.len(),
            k.findings.len() + k.diseases.len() + k.exams.len()
        );
        drop(built);
        let mut events = 0;
        let (warm, status) =
            KbIndex::open_or_build_sources(&sources, root.path(), &mut |_| events += 1)
                .expect("open");
        assert_eq!((status, events), (CacheStatus::Warm, 0));
        // The same corpus generated eagerly finds the same cache directory.
        let corpus = sources.corpus();
        let (same, status) =
            KbIndex::open_or_build(&corpus, root.path(), &mut |_| {}).expect("open");
        assert_eq!(status, CacheStatus::Warm);
        assert_eq!(same.path(), warm.path());
    }

    #[test]
    fn stale_temporary_builds_and_old_indexes_are_pruned() {
        let root = tempfile::tempdir().expect("temp dir");
        let old_tmp = root.path().join(".kb-abc.tmp-1-2");
        let fresh_tmp = root.path().join(".kb-def.tmp-3-4");
        fs::create_dir(&old_tmp).expect("mkdir");
        fs::create_dir(&fresh_tmp).expect("mkdir");
        let long_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
        fs::File::open(&old_tmp)
            .and_then(|f| f.set_modified(long_ago))
            .expect("set mtime");
        for i in 0..5 {
            let d = root.path().join(format!("kb-old{i}"));
            fs::create_dir(&d).expect("mkdir");
            fs::File::open(&d)
                .and_then(|f| f.set_modified(long_ago + Duration::from_secs(i)))
                .expect("set mtime");
        }
        KbIndex::open_or_build(&tiny(), root.path(), &mut |_| {}).expect("build");
        assert!(!old_tmp.exists(), "a crashed build's directory is removed");
        assert!(
            fresh_tmp.exists(),
            "a build that may still be running is left alone"
        );
        let kept: Vec<bool> = (0..5)
            .map(|i| root.path().join(format!("kb-old{i}")).exists())
            .collect();
        assert_eq!(
            kept,
            [false, false, true, true, true],
            "the newest three others are kept"
        );
    }
}
