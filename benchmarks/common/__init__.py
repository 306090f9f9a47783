"""What the benchmark scripts share: the ``NAME=VALUE`` settings parser, the Markdown table, the
package versions, the trainer clocks, the learning summaries, random models, notebook cells by tag."""
